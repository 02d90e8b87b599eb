"""The served schema may add to ../shared/api/contract.graphql but never break it."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import BreakingChange, build_schema as parse_sdl, find_breaking_changes

from schema.build import build_schema

CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "api" / "contract.graphql"

# Parts of the contract not served yet; remove names here as they land.
NOT_YET_SERVED: set[str] = set()


def _removed(change: BreakingChange) -> str | None:
    """The type or field a change removed ("Field Query.order was removed." -> "Query.order")."""
    found = re.fullmatch(r"(?:Field )?(\S+) was removed\.", change.description)
    return found.group(1) if found else None


def _pending(change: BreakingChange) -> bool:
    return _removed(change) in NOT_YET_SERVED


def _breaking_changes() -> list[BreakingChange]:
    contract = parse_sdl(CONTRACT.read_text())
    served = parse_sdl(build_schema().as_str())
    return find_breaking_changes(contract, served)


def test_served_schema_breaks_nothing_already_served() -> None:
    unexpected = [change.description for change in _breaking_changes() if not _pending(change)]
    assert unexpected == []


def test_pending_list_names_only_what_is_really_missing() -> None:
    """Keeps NOT_YET_SERVED honest: an entry that is served must leave the list."""
    missing = {_removed(change) for change in _breaking_changes()}
    assert NOT_YET_SERVED <= missing
