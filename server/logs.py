"""Logging set-up: plain text for people, JSON lines for log collectors.

A warning is a failure the process handles (a retry, a fallback): one line says what happened.
Its traceback helps only whoever debugs the handling, so it is printed at DEBUG alone; errors,
the failures nobody planned for, always keep theirs.
"""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class OneLineWarnings(logging.Formatter):
    """Formats with `inner`, folding the exception of a record below ERROR into its message.
    The record is copied, not changed: other handlers (pytest's, for one) see it whole."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno < logging.ERROR and record.exc_info and record.exc_info[1] is not None:
            folded = logging.makeLogRecord(record.__dict__)
            folded.msg = f"{record.getMessage()}: {describe(record.exc_info[1])}"
            folded.args, folded.exc_info, folded.exc_text = None, None, None
            record = folded
        return self._inner.format(record)


def describe(error: BaseException) -> str:
    """An exception in one line: its type and the first line of its message."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def configure_logging(level: str, log_format: str, *, one_shot: bool = False) -> None:
    """`one_shot` is for commands that report their own failure in one line at the end: the
    Elasticsearch client's warnings about each retry of the request would only repeat it."""
    handler = logging.StreamHandler()
    # JSON lines keep the `extra` fields (events, positions, seconds) as fields of their own.
    formatter = JsonFormatter(_FORMAT) if log_format == "json" else logging.Formatter(_FORMAT)
    handler.setFormatter(formatter if level == "DEBUG" else OneLineWarnings(formatter))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # The client logs every request at INFO; failures reach us as exceptions anyway.
    client_level = logging.ERROR if one_shot and level != "DEBUG" else logging.WARNING
    logging.getLogger("elastic_transport").setLevel(max(client_level, logging.getLogger().level))
