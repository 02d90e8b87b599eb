"""Failures of the read model, translated from the Elasticsearch client at this boundary."""


class ReadModelError(Exception):
    """Base of read-model failures."""


class ReadModelUnavailable(ReadModelError):
    """Elasticsearch did not answer or answered with a server error."""


class InvalidCursor(ReadModelError, ValueError):
    """An `after` cursor that this query did not hand out."""
