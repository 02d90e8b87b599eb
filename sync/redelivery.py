"""Another try for dead letters: the operations the worker parked after Elasticsearch refused them."""

from __future__ import annotations

from sync.erasure import Projector
from sync.indexing import Indexer
from write_model.consumers import DeadLetter, DeadLetters
from write_model.events import StoredEvent
from write_model.outbox import Outbox


class Redelivery:
    """Indexes parked operations again, from their events in the outbox. It needs no lease:
    external versions keep a redelivered document from replacing a newer one the worker wrote."""

    def __init__(self, outbox: Outbox, dead_letters: DeadLetters, indexer: Indexer, currency: str) -> None:
        self._outbox = outbox
        self._dead_letters = dead_letters
        self._indexer = indexer
        self._projector = Projector(outbox, currency)

    async def retry(self, ids: list[int] | None = None) -> list[tuple[DeadLetter, str | None]]:
        """Index parked operations again (all, or those with `ids`). A success removes the dead
        letter; a refusal keeps it with the new error. Returns each letter with its error or None."""
        letters = await self._dead_letters.list(ids)
        parked = await self._outbox.read_at([letter.position for letter in letters])
        events = {event.position: event for event in parked}
        outcomes = []
        for letter in letters:
            error = await self._index_again(events[letter.position], letter)
            if error is None:
                await self._dead_letters.resolve(letter.id)
            else:
                await self._dead_letters.record_failure(letter.id, error)
            outcomes.append((letter, error))
        return outcomes

    async def _index_again(self, event: StoredEvent, letter: DeadLetter) -> str | None:
        documents = [document for document in await self._projector.documents(event)
                     if document.index.name == letter.index_name and document.id == letter.document_id]
        refusals = await self._indexer.write(documents)
        if refusals:
            return refusals[0].error
        await self._indexer.refresh(document.index for document in documents)
        return None
