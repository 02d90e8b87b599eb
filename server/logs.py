"""Logging set-up: plain text for people, JSON lines for log collectors."""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler()
    # JSON lines keep the `extra` fields (events, positions, seconds) as fields of their own.
    handler.setFormatter(JsonFormatter(_FORMAT) if log_format == "json" else logging.Formatter(_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # The client logs every request at INFO; failures reach us as exceptions anyway.
    logging.getLogger("elastic_transport").setLevel(max(logging.WARNING, logging.getLogger().level))
