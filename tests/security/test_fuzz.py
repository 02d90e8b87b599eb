"""Operations generated from the served schema, valid and invalid: none may crash the server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

from schema.build import build_schema
from tests.support import Api

SERVED = build_schema().as_str()
CUSTOM_SCALARS = {
    "Decimal": st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str).map(nodes.String),
    "DateTime": st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1),
                             max_value=datetime(2100, 1, 1)).map(lambda moment: nodes.String(moment.isoformat())),
}
CODES = {"BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "QUERY_TOO_COMPLEX", "STALE_READ", "SERVICE_UNAVAILABLE"}
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _operations(mode: Mode) -> st.SearchStrategy[object]:
    return from_schema(SERVED, custom_scalars=CUSTOM_SCALARS, mode=mode)


async def _assert_handled(api: Api, operation: object) -> None:
    response = await api.http.post("/graphql", json={"query": str(operation)})
    text = response.text
    assert response.status_code < 500, text
    assert "Traceback" not in text and 'File "' not in text
    if response.headers.get("content-type", "").startswith("application/json"):
        for error in json.loads(text).get("errors", []):
            assert error["extensions"]["code"] in CODES, error  # INTERNAL would be a bug of ours


@FUZZ
@given(operation=_operations(Mode.POSITIVE))
async def test_generated_valid_operations_never_crash(api: Api, operation: object) -> None:
    await _assert_handled(api, operation)


@FUZZ
@given(operation=_operations(Mode.NEGATIVE))
async def test_generated_invalid_operations_are_refused_cleanly(api: Api, operation: object) -> None:
    await _assert_handled(api, operation)
