"""The read model: Elasticsearch index definitions, documents and the query store."""
