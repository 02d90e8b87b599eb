// How the page talks to the server: queries and mutations over HTTP, change notifications over a
// WebSocket (the graphql-transport-ws protocol, with the graphql-ws client).
//
// With a bundler this import would read `from "graphql-ws"`; here the server serves the
// package's browser build itself (server/demo.py), so the page needs no CDN.
import { createClient } from "./vendor/graphql-ws/client.js";

const ENDPOINT = new URL("/graphql", location.href);

export class GraphQLRequestError extends Error {
  constructor(errors) {
    super(errors.map((error) => error.message).join("; "));
    this.codes = errors.map((error) => error.extensions?.code);
  }
}

/** Runs a query or mutation; resolves to its `data`, rejects with the errors if there are any. */
export async function request(document, variables = {}, token = "") {
  const headers = { "content-type": "application/json", accept: "application/graphql-response+json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(ENDPOINT, {
    method: "POST", headers, body: JSON.stringify({ query: document, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) throw new GraphQLRequestError(body.errors);
  return body.data;
}

const RETRY_MS = 500;
const RETRY_MAX_MS = 5000;

/**
 * Follows a subscription for as long as the page lives. graphql-ws reconnects after a drop; on
 * each new connection the subscription starts again with the variables `resumeFrom` gives then
 * (here: `after`, the last position seen), so no change is lost in between.
 * `onState(state, reconnected)` hears "live" once a connection is up (`reconnected` after a
 * drop) and "reconnecting" when it is lost. Returns the client: `dispose()` it to stop.
 */
export function followSubscription({ document, resumeFrom, onData, onState, token = () => "" }) {
  let stop = () => {};
  const client = createClient({
    url: ENDPOINT.href.replace(/^http/, "ws"),
    connectionParams: () => (token() ? { authorization: `Bearer ${token()}` } : {}),
    lazy: false, // connect now and stay connected, so the page shows whether it is live
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_MS * 2 ** retries, RETRY_MAX_MS))),
    on: {
      connected: (_socket, _payload, reconnected) => {
        stop = client.subscribe({ query: document, variables: resumeFrom() }, {
          next: ({ data, errors }) => (errors ? console.error(errors) : onData(data)),
          // Refused (e.g. SERVICE_UNAVAILABLE while the change feed is down): after a pause, start over
          // on a fresh connection, which subscribes again from the last position.
          error: (error) => {
            console.error("subscription ended", error);
            setTimeout(() => client.terminate(), RETRY_MAX_MS);
          },
          complete: () => {},
        });
        onState("live", reconnected);
      },
      closed: () => {
        stop(); // the next connection subscribes again, from where this one got to
        onState("reconnecting", false);
      },
    },
  });
  return client;
}
