"""The whole topology on one machine, ``storefront cluster up|down|status|restart`` (:mod:`.cli`):
the write model, an Elasticsearch cluster, API processes and workers, HAProxy in front
(:mod:`.topology`, :mod:`.haproxy`), as detached processes (:mod:`.processes`)."""
