"""Accept and Content-Type rules of GraphQL over HTTP, without a server."""

from __future__ import annotations

import pytest

from server.content_negotiation import (
    GRAPHQL_RESPONSE_JSON,
    JSON,
    json_media_type,
    parse_accept,
    stream_protocol,
    unreadable_body_reason,
)

APOLLO_SUBSCRIPTION = "multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/graphql-response+json," \
                      "application/json;q=0.9"


@pytest.mark.parametrize(("accept", "expected"), [
    (None, JSON),
    ("", JSON),
    ("*/*", JSON),
    ("application/*", JSON),
    ("application/json", JSON),
    (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
    ("application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE_JSON),
    ("application/json, application/graphql-response+json", JSON),  # equal: the first listed
    ("application/graphql-response+json, application/json", GRAPHQL_RESPONSE_JSON),
    ("application/json;q=0.2, */*;q=0.5", GRAPHQL_RESPONSE_JSON),  # the wildcard ranks it higher
    ("*/*;q=0.5, application/graphql-response+json;q=0", JSON),  # the specific range excludes it
    ("Application/GraphQL-Response+JSON", GRAPHQL_RESPONSE_JSON),
    ("application/json;q=0, application/graphql-response+json;q=0", None),
    ("text/html", None),
    ("application/json;q=2", None),  # not a weight: the range is ignored
    (APOLLO_SUBSCRIPTION, GRAPHQL_RESPONSE_JSON),
])
def test_the_json_answer_follows_the_clients_preference(accept: str | None, expected: str | None) -> None:
    assert json_media_type(accept) == expected


@pytest.mark.parametrize(("accept", "expected"), [
    (APOLLO_SUBSCRIPTION, "multipart-subscription"),
    ('multipart/mixed; boundary="graphql"; subscriptionSpec="1.0", application/json', "multipart-subscription"),
    ("application/json, multipart/mixed;subscriptionSpec=1.0", "multipart-subscription"),
    ("text/event-stream", "sse"),
    ("text/event-stream;q=0.5, multipart/mixed;subscriptionSpec=1.0", "multipart-subscription"),
    ("multipart/mixed;subscriptionSpec=1.0;boundary=other", None),  # strawberry writes `graphql` only
    ("multipart/mixed;deferSpec=20220824, application/json", None),
    ("text/event-stream;q=0", None),
    ("*/*", None),
    (None, None),
])
def test_a_stream_is_chosen_only_when_named(accept: str | None, expected: str | None) -> None:
    assert stream_protocol(accept) == expected


def test_commas_inside_quoted_parameters_do_not_split_ranges() -> None:
    [only] = parse_accept('multipart/mixed; boundary="a,b"; subscriptionSpec=1.0')
    assert (only.type, only.subtype, only.params) == ("multipart", "mixed", {"boundary": "a,b",
                                                                             "subscriptionspec": "1.0"})


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          'APPLICATION/JSON; Charset="UTF-8"', "application/json;charset=utf8"])
def test_json_in_utf8_is_read(content_type: str) -> None:
    assert unreadable_body_reason(content_type) is None


@pytest.mark.parametrize(("content_type", "names"), [
    (None, "Content-Type"), ("", "Content-Type"), ("text/plain", "text/plain"),
    ("application/x-www-form-urlencoded", "x-www-form-urlencoded"), ("application/jsonx", "jsonx"),
    ("application/json; charset=utf-16", "utf-16"),
])
def test_other_bodies_are_refused_with_the_reason(content_type: str | None, names: str) -> None:
    reason = unreadable_body_reason(content_type)
    assert reason is not None and names in reason
