"""Documents that expand exponentially, or cost quadratic work to validate, are refused at
once, and the server keeps answering meanwhile (validation runs on the event loop)."""

from __future__ import annotations

import asyncio
import gc
import itertools
import time

import httpx
import pytest

from tests.support import Api, wait_until

# Every document is new to the server (a fresh operation name), so none comes from its
# validation cache.
_fresh = itertools.count()


def fragment_bomb(fragments: int) -> str:
    """Each fragment spreads the next one twice: 2^(fragments - 1) copies of `__typename`."""
    chain = " ".join(f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(fragments - 1))
    return f"query Bomb{next(_fresh)} {{ ...F0 }} {chain} fragment F{fragments - 1} on Query {{ __typename }}"


def repeated_field(times: int) -> str:
    """Cheap to run, but graphql-core compares the repeated fields pair by pair."""
    return f"query Repeat{next(_fresh)} {{ " + "syncStatus { lag } " * times + "}"


async def _refusal_seconds(api: Api, document: str) -> float:
    started = time.perf_counter()
    body = await api.raw(document)
    elapsed = time.perf_counter() - started
    assert body.get("data") is None
    assert {error["extensions"]["code"] for error in body["errors"]} == {"QUERY_TOO_COMPLEX"}, body
    return elapsed


@pytest.mark.parametrize("fragments", [30, 40, 100])
async def test_a_fragment_bomb_is_refused_in_milliseconds(api: Api, fragments: int) -> None:
    # Before the rule measured each fragment once, 22 fragments took 7.7 s and 30 never answered.
    fastest = min([await _refusal_seconds(api, fragment_bomb(fragments)) for _ in range(3)])
    assert fastest < 0.2, f"{fragments} fragments took {fastest * 1000:.0f} ms"


async def test_a_document_too_costly_to_validate_is_refused_in_milliseconds(api: Api) -> None:
    # Within every limit of ours (1,201 tokens, cost 600), but 300 repetitions would make
    # field-merging validation compare 45,000 pairs.
    fastest = min([await _refusal_seconds(api, repeated_field(300)) for _ in range(3)])
    assert fastest < 0.2, f"took {fastest * 1000:.0f} ms"
    assert "errors" not in await api.raw(repeated_field(10))


async def test_health_checks_answer_within_100_ms_while_bombs_are_refused(api: Api) -> None:
    """The server shares its heap with the whole test run: a full garbage collection of it takes
    about 0.3 s on a busy 2-core machine, bombs or not, so the probes start right after one."""
    refused = 0
    probing = True

    async def bomber() -> None:
        nonlocal refused
        for fragments in itertools.cycle((30, 40, 100)):
            if not probing:
                return
            await _refusal_seconds(api, fragment_bomb(fragments))
            refused += 1

    # One bomb in flight at a time: the probes measure what a refusal holds the loop for, not
    # the queue of this test's own clients, which share that loop.
    bombing = asyncio.create_task(bomber())
    latencies = []
    try:
        async with httpx.AsyncClient(base_url=str(api.http.base_url), timeout=5) as probe:
            # The bombs are under way before the probes count.
            await wait_until(lambda: refused >= 20 or bombing.done(), 30, lambda: f"20 bombs refused; {refused} were")
            assert not bombing.done(), bombing
            refused_before = refused
            gc.collect()
            for _ in range(30):
                started = time.perf_counter()
                response = await probe.get("/healthz")
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200
            refused_meanwhile = refused - refused_before
    finally:
        probing = False
        await bombing
    assert refused_meanwhile >= 10, "the bombs did not run alongside the probes"
    milliseconds = sorted(round(latency * 1000) for latency in latencies)
    assert milliseconds[-1] < 100, f"/healthz took {milliseconds} ms"
