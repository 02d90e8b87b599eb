"""The sync worker: outbox tail -> projection -> bulk index -> refresh -> checkpoint -> notify."""
