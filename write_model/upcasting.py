"""Stored payloads read in the shape events carry today.

The outbox is the source of truth and is never rewritten: events stored before amounts moved
to minor units keep their decimal text ("price": "12.50"), and are read as "priceMinor": 1250.
"""

from __future__ import annotations

from typing import Any

from write_model import events
from write_model.money import to_minor_units
from write_model.orders import line_payload


def upcast(stream_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload in today's shape; a payload already in it is returned as it is."""
    if stream_type == events.PRODUCT:
        return _minor(payload, "price", "priceMinor")
    if stream_type == events.CUSTOMER:
        return _customer(payload)
    if stream_type == events.ORDER:
        return _order(payload)
    return payload


def _customer(payload: dict[str, Any]) -> dict[str, Any]:
    return _minor(payload, "totalSpent", "totalSpentMinor")


def _order(payload: dict[str, Any]) -> dict[str, Any]:
    if "total" not in payload:
        return payload
    order = _minor(payload, "total", "totalMinor")
    order["lines"] = [line_payload(line) for line in payload["lines"]]
    if "customer" in payload:
        order["customer"] = _customer(payload["customer"])
    return order


def _minor(payload: dict[str, Any], text_key: str, minor_key: str) -> dict[str, Any]:
    """A copy with the decimal text under `text_key` replaced by minor units under `minor_key`."""
    if text_key not in payload:
        return payload
    upcast = {key: value for key, value in payload.items() if key != text_key}
    upcast[minor_key] = to_minor_units(payload[text_key])
    return upcast
