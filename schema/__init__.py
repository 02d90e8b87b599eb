"""The GraphQL layer: types, inputs, results, resolvers and the HTTP view. No ORM, SQL or ES client here."""
