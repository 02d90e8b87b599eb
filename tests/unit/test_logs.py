"""Warnings are one line; errors keep their traceback (server/logs.py)."""

from __future__ import annotations

import logging
import sys

from server.logs import OneLineWarnings, describe


def _record(level: int) -> logging.LogRecord:
    try:
        raise ConnectionError("refused\nsecond line")
    except ConnectionError:
        exc_info = sys.exc_info()
    return logging.LogRecord("elastic_transport.transport", level, __file__, 1, "retrying %s", ("request",), exc_info)


def test_a_warning_with_an_exception_is_one_line_and_the_record_stays_whole() -> None:
    record = _record(logging.WARNING)
    text = OneLineWarnings(logging.Formatter("%(levelname)s %(message)s")).format(record)
    assert text == "WARNING retrying request: ConnectionError: refused"
    assert record.exc_info is not None and record.args == ("request",)


def test_an_error_keeps_its_traceback() -> None:
    text = OneLineWarnings(logging.Formatter("%(message)s")).format(_record(logging.ERROR))
    assert text.startswith("retrying request\nTraceback (most recent call last):")


def test_describe_names_the_type_when_the_message_is_empty() -> None:
    assert describe(TimeoutError()) == "TimeoutError"
