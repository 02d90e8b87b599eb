// Runs graphql-http's GraphQL-over-HTTP audit against a live server and prints every
// result as one JSON array: [{id, name, status, reason?, response?}] (status "ok" passes).
// Usage: node audit.mjs <http-url>
import { auditServer } from "graphql-http";

const [url] = process.argv.slice(2);
const results = await auditServer({ url });
const printable = await Promise.all(
  results.map(async ({ id, name, status, reason, response }) => ({
    id,
    name,
    status,
    ...(reason === undefined ? {} : { reason }),
    ...(response === undefined
      ? {}
      : { response: { status: response.status, body: await response.text() } }),
  })),
);
console.log(JSON.stringify(printable));
