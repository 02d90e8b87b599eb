"""Parses a document text once: clients send the same few documents again and again.

Only documents that parsed are kept. The extension fills in the syntax tree before strawberry
parses, so on a miss strawberry parses as usual and a syntax error, too many tokens included,
goes the normal way to ErrorCodes and keeps its code, the first time and every time after.
(strawberry's ParserCache parses inside its own hook, where such an error escapes.)

Kept syntax trees stay alive and every full garbage collection walks them: 512 cached trees
once made those pauses reach 1.8 s under a flood of distinct documents (see
schema/validation_cache.py). So the cache is bounded by the characters of the texts it holds,
not only by their number: a tree has at most about 2.5 objects per character of its text (one
field a token, `{ a a a ... }`), so 64 Ki characters keep at most about 160,000 objects alive,
which measured about 45 ms more per full collection, while an ordinary operation of a few
hundred characters costs a fraction of that. A text over an eighth of the budget is never
kept, so one large document cannot evict the many small ones clients repeat.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from graphql import DocumentNode
from strawberry.extensions import SchemaExtension


class ParsedDocuments:
    """The syntax trees of the latest documents that parsed, at most `max_entries` of them and
    `max_chars` characters of text in all."""

    def __init__(self, max_entries: int, max_chars: int) -> None:
        self._max_entries = max_entries
        self._max_chars = max_chars
        self._chars = 0
        self._trees: OrderedDict[str, DocumentNode] = OrderedDict()

    def __len__(self) -> int:
        return len(self._trees)

    @property
    def chars(self) -> int:
        return self._chars

    def get(self, text: str) -> DocumentNode | None:
        tree = self._trees.get(text)
        if tree is not None:
            self._trees.move_to_end(text)
        return tree

    def add(self, text: str, tree: DocumentNode) -> None:
        if len(text) > self._max_chars // 8 or text in self._trees:
            return
        self._trees[text] = tree
        self._chars += len(text)
        while len(self._trees) > self._max_entries or self._chars > self._max_chars:
            forgotten, _ = self._trees.popitem(last=False)
            self._chars -= len(forgotten)


class ParseOnce(SchemaExtension):
    def __init__(self, parsed: ParsedDocuments) -> None:
        self._parsed = parsed

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        text = context.query
        cached = None if text is None else self._parsed.get(text)
        if cached is not None:
            context.graphql_document = cached  # strawberry does not parse then
        yield
        if text is not None and cached is None and context.graphql_document is not None:  # None: it did not parse
            self._parsed.add(text, context.graphql_document)
