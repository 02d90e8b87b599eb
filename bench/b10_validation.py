"""B10: validation of documents of growing size, against graphql-core's parse of the same
documents: both must grow linearly, so validation's time per KB must not grow faster than
parsing's. Hostile shapes (a fragment bomb, a repeated field) and ordinary ones (wide
selections, one fragment spread many times)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from graphql import ASTValidationRule, GraphQLSchema, parse, specified_rules
from strawberry.schema.schema import validate_document

from bench.common.benchmark import Benchmark
from bench.common.context import Run
from bench.common.plots import progress
from bench.common.results import Outcome, Row, ratio_at_most
from schema.build import Protection, build_schema
from schema.limits import Limits, complexity_rule

# The served limits, but with aliases and cost high enough for the wide documents to pass every
# rule: refusing them early would measure nothing. The bomb still passes its cost at 2^30.
LIMITS = Limits(max_depth=12, max_aliases=10**9, max_cost=10**9, max_page=100)


def _bomb(count: int) -> str:
    chain = " ".join(f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(count - 1))
    return f"query {{ ...F0 }} {chain} fragment F{count - 1} on Query {{ __typename }}"


def _repeated(count: int) -> str:
    return "query { " + "syncStatus { lag } " * count + "}"


def _wide(count: int) -> str:
    page = "products(first: 5) { totalCount edges { node { id name price { amount currency } } } }"
    return "query { " + " ".join(f"p{n}: {page}" for n in range(count)) + " }"


def _spread(count: int) -> str:
    return ("query { " + "...Status " * count + "} "
            "fragment Status on Query { syncStatus { lag headPosition indexedPosition } }")


SHAPES: dict[str, Callable[[int], str]] = {
    "fragment bomb": _bomb, "repeated field": _repeated, "wide selection": _wide, "one fragment spread often": _spread,
}


@dataclass(frozen=True)
class Sizes:
    smallest: int  # fragments, repetitions, fields or spreads in the smallest document
    doublings: int
    repeats: int  # the fastest of these runs is kept, on a shared machine


@dataclass(frozen=True)
class _Point:
    kilobytes: float
    validate_s: float
    parse_s: float


async def run(run: Run, sizes: Sizes) -> Outcome:
    schema = build_schema(Protection(limits=LIMITS))._schema
    rules = (*specified_rules, complexity_rule(LIMITS))
    counts = [sizes.smallest * 2**step for step in range(sizes.doublings + 1)]
    points = {shape: [_measure(schema, rules, make(count), sizes.repeats) for count in counts]
              for shape, make in SHAPES.items()}
    outcome = Outcome()
    factor = 2**sizes.doublings
    for shape, measured in points.items():
        small, large = measured[0], measured[-1]
        outcome.rows.append(Row(
            "B10", f"validation time per KB growth, {shape} ({factor}x size)", "x",
            _per_kb(large.validate_s, large) / _per_kb(small.validate_s, small),
            _per_kb(large.parse_s, large) / _per_kb(small.parse_s, small), ratio_at_most(2)))
        outcome.notes.append(
            f"{shape}: " + "; ".join(f"{point.kilobytes:.1f} KB validated in {point.validate_s * 1000:.2f} ms "
                                     f"(parse {point.parse_s * 1000:.2f} ms)" for point in measured) + ".")
    outcome.notes += [
        "Ours: strawberry's `validate_document` with graphql-core's specified rules and the complexity rule, "
        "on the served schema (the served field-merging budget too), the limits raised for aliases and cost so "
        f"that the wide documents pass every rule. Baseline: graphql-core's `parse` of the same text. Each "
        f"figure is the fastest of {sizes.repeats} runs; a row's figures are the time per KB of the largest "
        f"document over that of the smallest ({factor}x the size), so 1 means linear.",
        "The fragment bomb is refused by the complexity rule at every size (from 31 fragments its cost passes "
        "10^9), and the repeated field once graphql-core's field-merging budget runs out: their validation "
        "stops there, so its time per KB may fall as they grow.",
    ]
    outcome.plots.append(progress(
        run.out / "b10-validation.png", "B10: validation time / parse time, by document size",
        {shape: ([point.kilobytes for point in measured], [point.validate_s / point.parse_s for point in measured])
         for shape, measured in points.items()},
        "document size (KB)", "validation time / parse time"))
    return outcome


def _measure(schema: GraphQLSchema, rules: tuple[type[ASTValidationRule], ...], text: str, repeats: int) -> _Point:
    document = parse(text)
    return _Point(len(text.encode()) / 1024, _fastest(lambda: validate_document(schema, document, rules), repeats),
                  _fastest(lambda: parse(text), repeats))


def _fastest(action: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def _per_kb(seconds: float, point: _Point) -> float:
    return seconds / point.kilobytes


BENCHMARK = Benchmark("B10", "validation by document size", full=Sizes(smallest=40, doublings=4, repeats=15),
                      smoke=Sizes(smallest=40, doublings=2, repeats=3), run=run)
