"""A document text that passed validation is not validated again; a refused one always is."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import ASTValidationRule, DocumentNode
from strawberry.extensions import AddValidationRules

from schema.validation_cache import PassedDocuments, ValidateOnce


@strawberry.type
class Query:
    @strawberry.field
    def answer(self) -> int:
        return 42


def counting_schema(passed: PassedDocuments) -> tuple[strawberry.Schema, list[str]]:
    validated: list[str] = []

    class Counting(ASTValidationRule):
        def enter_document(self, node: DocumentNode, *_args: Any) -> None:
            validated.append(node.loc.source.body if node.loc else "")

    schema = strawberry.Schema(Query, extensions=[lambda: AddValidationRules([Counting]),
                                                  lambda: ValidateOnce(passed)])
    return schema, validated


def test_a_document_that_passed_is_validated_once() -> None:
    schema, validated = counting_schema(PassedDocuments(8))
    assert [schema.execute_sync("{ answer }").data for _ in range(3)] == [{"answer": 42}] * 3
    assert validated == ["{ answer }"]


def test_a_refused_document_is_validated_each_time() -> None:
    schema, validated = counting_schema(PassedDocuments(8))
    results = [schema.execute_sync("{ question }") for _ in range(2)]
    assert [len(result.errors or []) for result in results] == [1, 1]
    assert validated == ["{ question }"] * 2


def test_the_least_recently_used_text_is_forgotten_first() -> None:
    passed = PassedDocuments(2)
    passed.add("{ a }")
    passed.add("{ b }")
    assert "{ a }" in passed  # now the most recent
    passed.add("{ c }")
    assert ["{ a }" in passed, "{ b }" in passed, "{ c }" in passed] == [True, False, True]
