"""The dev Elasticsearch node (:mod:`.node`) and its ``storefront elasticsearch`` commands (:mod:`.cli`)."""
