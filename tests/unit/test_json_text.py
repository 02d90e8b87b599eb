"""Answers are encoded by orjson, as the standard library would encode them, as text."""

from __future__ import annotations

import json

import pytest

from server.graphql_view import json_text

ANSWERS = [
    {"data": {"products": {"edges": [{"node": {"name": "Lampe à poser", "stock": 3, "price": {"amount": "9.50"}}}],
                           "totalCount": 1}}},
    {"data": None, "errors": [{"message": "x", "path": ["a", 0], "extensions": {"code": "BAD_USER_INPUT"}}]},
    {"data": {"history": {"edges": [{"node": {"data": {"huge": 2**70, "n": None, "f": 1.5}}}]}}},
    {"data": {"json": {1: "an integer key"}}},
]


@pytest.mark.parametrize("answer", ANSWERS)
def test_the_text_decodes_to_what_the_standard_library_encodes(answer: dict[str, object]) -> None:
    text = json_text(answer)
    assert isinstance(text, str)
    assert json.loads(text) == json.loads(json.dumps(answer))
