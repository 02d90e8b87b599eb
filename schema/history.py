"""Output types of an aggregate's history: its events, as the events index holds them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

# Served as it is, like the sort enums (schema/query.py): the GraphQL `StreamType`.
from read_model.history import StreamType
from schema.consistency import encode_position
from schema.types import PageInfo


@strawberry.type
class Event:
    position: str = strawberry.field(
        description="The event's place in the log: pass it as `consistentWith` or `asOf`."
    )
    type: str
    stream_type: StreamType
    stream_id: strawberry.ID
    version: int = strawberry.field(description="The stream's version this event made.")
    occurred_at: datetime
    data: JSON = strawberry.field(
        description="The event as the API shows things: the aggregate after it, amounts as decimal text."
    )

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Event:
        return cls(
            position=encode_position(document["position"]),
            type=document["type"],
            stream_type=StreamType(document["streamType"]),
            stream_id=strawberry.ID(document["streamId"]),
            version=document["version"],
            occurred_at=datetime.fromisoformat(document["occurredAt"]),
            data=JSON(document["data"]),
        )


@strawberry.type
class EventEdge:
    node: Event
    cursor: str


@strawberry.type
class EventConnection:
    edges: list[EventEdge]
    page_info: PageInfo
    total_count: int
