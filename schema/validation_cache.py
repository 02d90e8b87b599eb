"""Validates a document text once: clients send the same few documents again and again.

Only the texts of documents that passed are kept, never their syntax trees or errors.
strawberry's ValidationCache keys on the parsed document, so it kept up to its size of syntax
trees alive, refused ones too: 600 distinct fragment bombs grew the heap from 0.2 to 1.7
million objects and each full garbage collection to 1.8 s, long enough to stall every
request. A refused document is validated again when it comes back, which the limits rule
keeps linear in its size.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension


class PassedDocuments:
    """The texts of the latest documents that passed validation, at most `size` of them."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._texts: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, text: str) -> bool:
        if text not in self._texts:
            return False
        self._texts.move_to_end(text)
        return True

    def add(self, text: str) -> None:
        self._texts[text] = None
        self._texts.move_to_end(text)
        if len(self._texts) > self._size:
            self._texts.popitem(last=False)


class ValidateOnce(SchemaExtension):
    def __init__(self, passed: PassedDocuments) -> None:
        self._passed = passed

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        text = context.query
        if text is not None and text in self._passed:
            context.pre_execution_errors = []  # strawberry runs no validation rule then
        yield
        if text is not None and context.pre_execution_errors == []:
            self._passed.add(text)
