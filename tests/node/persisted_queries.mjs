// Runs one query twice through Apollo Client's persisted-query link over HttpLink, and prints
// one JSON line: every HTTP request the link made (method, query parameters or body) and each
// answer's data. Usage: node persisted_queries.mjs <http-url> <query> <post|get>
import { createHash } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";

const [uri, query, method] = process.argv.slice(2);
const requests = [];

async function recordingFetch(url, options) {
  const { searchParams } = new URL(url);
  requests.push({
    method: options.method,
    params: Object.fromEntries(searchParams),
    body: options.body ? JSON.parse(options.body) : null,
  });
  return fetch(url, options);
}

const persisted = createPersistedQueryLink({
  sha256: (text) => createHash("sha256").update(text).digest("hex"),
  useGETForHashedQueries: method === "get",
});
const client = new ApolloClient({
  link: persisted.concat(new HttpLink({ uri, fetch: recordingFetch })),
  cache: new InMemoryCache(),
});

const answers = [];
for (let n = 0; n < 2; n += 1) {
  const { data } = await client.query({ query: gql(query), fetchPolicy: "no-cache" });
  answers.push(data);
}
console.log(JSON.stringify({ requests, answers }));
