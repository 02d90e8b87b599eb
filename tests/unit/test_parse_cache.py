"""A document text that parsed is parsed once; one that did not is parsed, and refused with its
code, every time; the cache stays within its count and its characters."""

from __future__ import annotations

import asyncio
from typing import Any

import strawberry
from graphql import ASTValidationRule, DocumentNode, parse
from strawberry.extensions import AddValidationRules

from schema.build import Protection, build_schema
from schema.parse_cache import ParsedDocuments, ParseOnce


@strawberry.type
class Query:
    @strawberry.field
    def answer(self) -> int:
        return 42


def recording_schema(parsed: ParsedDocuments) -> tuple[strawberry.Schema, list[DocumentNode]]:
    """Records the syntax tree each execution validates."""
    trees: list[DocumentNode] = []

    class Recording(ASTValidationRule):
        def enter_document(self, node: DocumentNode, *_args: Any) -> None:
            trees.append(node)

    schema = strawberry.Schema(Query, extensions=[lambda: AddValidationRules([Recording]),
                                                  lambda: ParseOnce(parsed)])
    return schema, trees


def test_a_document_that_parsed_is_parsed_once() -> None:
    schema, trees = recording_schema(ParsedDocuments(8, 1024))
    assert [schema.execute_sync("{ answer }").data for _ in range(3)] == [{"answer": 42}] * 3
    assert len(trees) == 3
    assert trees[1] is trees[0] and trees[2] is trees[0]


def test_a_document_that_did_not_parse_is_not_kept() -> None:
    parsed = ParsedDocuments(8, 1024)
    schema, _ = recording_schema(parsed)
    results = [schema.execute_sync("{ answer") for _ in range(2)]
    assert [[error.message[:13] for error in result.errors or []] for result in results] == [["Syntax Error:"]] * 2
    assert len(parsed) == 0


def codes_of(query: str, sends: int) -> list[list[object]]:
    schema = build_schema(Protection(max_tokens=20))

    async def send() -> list[object]:
        result = await schema.execute(query)
        return [(error.extensions or {}).get("code") for error in result.errors or []]

    async def all_sends() -> list[list[object]]:
        return [await send() for _ in range(sends)]

    return asyncio.run(all_sends())


def test_a_syntax_error_keeps_its_code_every_time() -> None:
    assert codes_of("{ products(first: 1) { edges ", 3) == [["BAD_USER_INPUT"]] * 3


def test_too_many_tokens_keeps_its_code_every_time() -> None:
    assert codes_of("{ " + "__typename " * 30 + "}", 3) == [["QUERY_TOO_COMPLEX"]] * 3


def test_the_least_recently_used_document_is_forgotten_first() -> None:
    parsed = ParsedDocuments(2, 1024)
    for text in ("{ a }", "{ b }"):
        parsed.add(text, parse(text))
    assert parsed.get("{ a }") is not None  # now the most recent
    parsed.add("{ c }", parse("{ c }"))
    assert [parsed.get(text) is not None for text in ("{ a }", "{ b }", "{ c }")] == [True, False, True]


def test_the_characters_kept_stay_within_the_budget() -> None:
    parsed = ParsedDocuments(100, 80)
    texts = [f"{{ field{n} }}" for n in range(10)]  # 10 characters each, the last 8 fit
    for text in texts:
        parsed.add(text, parse(text))
    assert (len(parsed), parsed.chars) == (8, 80)
    assert [parsed.get(text) is not None for text in texts] == [False] * 2 + [True] * 8


def test_a_text_over_an_eighth_of_the_budget_is_not_kept() -> None:
    parsed = ParsedDocuments(100, 80)
    parsed.add("{ a }", parse("{ a }"))
    large = "{ " + "a " * 5 + "}"  # 14 characters, over 80 // 8
    parsed.add(large, parse(large))
    assert (parsed.get(large), len(parsed), parsed.chars) == (None, 1, 5)
