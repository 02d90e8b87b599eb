"""The served schema may add to ../shared/api/contract.graphql, and to the names our issues added
to it (tests/contract_additions.graphql), but never break either."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema as parse_sdl
from graphql import find_breaking_changes

from schema.build import build_schema

CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "api" / "contract.graphql"
ADDITIONS = Path(__file__).with_name("contract_additions.graphql")


def test_served_schema_breaks_nothing_in_the_contract() -> None:
    contract = parse_sdl(CONTRACT.read_text() + "\n" + ADDITIONS.read_text())
    served = parse_sdl(build_schema().as_str())
    assert [change.description for change in find_breaking_changes(contract, served)] == []
