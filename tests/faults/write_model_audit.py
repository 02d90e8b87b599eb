"""The write model as a fault left it, read on either backend, and what must hold of it: every
mutation answered as accepted is durable, and nothing is half-applied."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from sqlalchemy import NullPool
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from write_model.tables import CustomerRow, OrderRow, OutboxHeadRow, OutboxRow, ProductRow


@dataclass(frozen=True)
class Answered:
    """A mutation the server answered as accepted: what it said."""

    kind: str  # "product", "customer" or "order": the aggregate the answer names
    event_type: str
    id: str
    version: int
    position: int


async def read_write_model(database_url: str) -> dict[str, Any]:
    """Every event, the head, and the rows' fields the checks need, through a connection of its own
    and, on PostgreSQL, in one snapshot: a commit a killed client left in flight may still land."""
    snapshot = {} if make_url(database_url).get_backend_name() == "sqlite" else {"isolation_level": "REPEATABLE READ"}
    engine = create_async_engine(database_url, poolclass=NullPool, **snapshot)
    try:
        async with AsyncSession(engine) as session:
            events = await session.exec(select(OutboxRow).order_by(col(OutboxRow.position)))
            model = {
                "events": [{"position": row.position, "stream_type": row.stream_type, "stream_id": row.stream_id,
                            "stream_version": row.stream_version, "event_type": row.event_type,
                            "payload": row.payload} for row in events],
                "head": (await session.exec(select(OutboxHeadRow.position))).one(),
                "products": {row.id: {"id": row.id, "stock": row.stock, "version": row.version}
                             for row in await session.exec(select(ProductRow))},
                "customers": {row.id: {"id": row.id, "version": row.version}
                              for row in await session.exec(select(CustomerRow))},
                "orders": {row.id: {"id": row.id, "status": row.status, "version": row.version, "lines": row.lines}
                           for row in await session.exec(select(OrderRow))},
            }
    finally:
        await engine.dispose()
    return model


def assert_answered_are_durable(model: dict[str, Any], answered: list[Answered]) -> None:
    by_position = {event["position"]: event for event in model["events"]}
    rows = {"product": model["products"], "customer": model["customers"], "order": model["orders"]}
    for answer in answered:
        event = by_position.get(answer.position)
        assert event is not None, f"{answer} was answered but its event is not in the outbox"
        assert (event["stream_type"], event["stream_id"], event["stream_version"], event["event_type"]) == (
            answer.kind, answer.id, answer.version, answer.event_type), answer
        assert answer.id in rows[answer.kind], f"{answer} was answered but its row is not in the write model"


def assert_nothing_half_applied(model: dict[str, Any]) -> None:
    """Every state row matches its stream's last event and every stream has its row; positions are
    gap-free; an order's stock reservations are the events right before it, one per line."""
    events = model["events"]
    assert [event["position"] for event in events] == list(range(1, model["head"] + 1))
    streams: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        streams[(event["stream_type"], event["stream_id"])].append(event)
    rows = {"product": model["products"], "customer": model["customers"], "order": model["orders"]}
    assert set(streams) == {(kind, row_id) for kind, table in rows.items() for row_id in table}
    for (kind, stream_id), stream in streams.items():
        assert [event["stream_version"] for event in stream] == list(range(1, len(stream) + 1)), stream_id
        row, last = rows[kind][stream_id], stream[-1]
        assert row["version"] == last["stream_version"], (kind, stream_id)
        if kind == "product":
            assert row["stock"] == last["payload"]["stock"], stream_id
    for event in events:
        if event["event_type"] == "OrderPlaced":
            order = model["orders"][event["stream_id"]]
            reserved = events[event["position"] - 1 - len(order["lines"]):event["position"] - 1]
            assert [(e["event_type"], e["stream_id"], e["payload"]["reason"]) for e in reserved] == [
                ("StockReserved", line["productId"], f"order {order['id']}") for line in order["lines"]]
    for stream in (s for (kind, _), s in streams.items() if kind == "product"):
        for before, after in pairwise(stream):
            if after["event_type"] == "StockReserved":
                order_id = after["payload"]["reason"].removeprefix("order ")
                [line] = [line for line in model["orders"][order_id]["lines"]
                          if line["productId"] == after["stream_id"]]
                assert after["payload"]["stock"] == before["payload"]["stock"] - line["quantity"]
