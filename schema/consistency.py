"""Positions as opaque tokens, and the bounded wait behind `consistentWith`."""

from __future__ import annotations

from schema.context import Context
from schema.errors import BadUserInput, StaleRead

_MAX_POSITION = 2**63 - 1


def encode_position(position: int) -> str:
    return str(position)


def decode_position(token: str, argument: str = "consistentWith") -> int:
    if not token.isascii() or not token.isdigit() or int(token) > _MAX_POSITION:
        raise BadUserInput(f"`{argument}` must be a `position` returned by a mutation.")
    return int(token)


async def catch_up(context: Context, token: str | None) -> None:
    """Wait until the read model shows `token`'s event, or fail with STALE_READ."""
    if token is None:
        return
    position = decode_position(token)
    if not await context.indexed_position.wait_for(position, context.consistency_timeout_s):
        raise StaleRead(
            f"The read model did not reach position {position} within {context.consistency_timeout_s:g}s; retry later."
        )
