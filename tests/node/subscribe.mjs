// Subscribes with the graphql-ws client (graphql-transport-ws protocol), prints each
// result as one JSON line, and exits after `count` results or `timeoutMs`.
// Usage: node subscribe.mjs <ws-url> <query> <count> <timeoutMs>
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, query, count, timeoutMs] = process.argv.slice(2);
const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
let received = 0;

const timer = setTimeout(() => {
  console.error(`timed out after ${received} results`);
  process.exit(2);
}, Number(timeoutMs));

client.on("connected", () => console.log(JSON.stringify({ connected: true })));

client.subscribe(
  { query },
  {
    next: (result) => {
      console.log(JSON.stringify(result));
      received += 1;
      if (received >= Number(count)) {
        clearTimeout(timer);
        client.dispose().then(() => process.exit(0));
      }
    },
    error: (error) => {
      console.error(JSON.stringify(error?.message ?? error));
      process.exit(1);
    },
    complete: () => {},
  },
);
