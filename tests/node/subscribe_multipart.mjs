// Subscribes with Apollo Client's HttpLink (multipart/mixed;subscriptionSpec=1.0 over fetch,
// no WebSocket), prints each result as one JSON line, and after `count` results unsubscribes
// (which aborts the request) and exits; exits 2 after `timeoutMs`.
// Usage: node subscribe_multipart.mjs <http-url> <query> <variables-json> <count> <timeoutMs> [authorization]
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";

const [uri, query, variables, count, timeoutMs, authorization] = process.argv.slice(2);
const client = new ApolloClient({
  link: new HttpLink({ uri, headers: authorization ? { authorization } : {} }),
  cache: new InMemoryCache(),
});
let received = 0;

const timer = setTimeout(() => {
  console.error(`timed out after ${received} results`);
  process.exit(2);
}, Number(timeoutMs));

const subscription = client
  .subscribe({ query: gql(query), variables: JSON.parse(variables), fetchPolicy: "no-cache" })
  .subscribe({
    next: (result) => {
      console.log(JSON.stringify(result));
      received += 1;
      if (received >= Number(count)) {
        clearTimeout(timer);
        subscription.unsubscribe(); // aborts the fetch: the server must end its subscription
        setImmediate(() => process.exit(0));
      }
    },
    error: (error) => {
      console.error(JSON.stringify(error?.message ?? error));
      process.exit(1);
    },
    complete: () => {
      console.error(`completed after ${received} results`);
      process.exit(received >= Number(count) ? 0 : 3);
    },
  });
