"""The HTTP side of persisted documents: the `documentId` strawberry does not read, and the
document each request runs (see server/persisted_documents.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from strawberry.http import GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type

from schema.context import Context
from server.persisted_documents import DocumentRequest, PersistedDocuments, admin_check

DOCUMENT_ID = "documentId"


@dataclasses.dataclass
class RequestWithDocumentId(GraphQLRequestData):
    document_id: str | None = None


async def with_document_id(
    data: GraphQLRequestData, request: AsyncHTTPRequestAdapter, parse_json: Callable[[bytes], object]
) -> GraphQLRequestData:
    """`data` with the request's `documentId`, read only when no query came (as GraphQL Code
    Generator's persisted documents send it): other requests are not decoded twice."""
    if data.query is None:
        params = await _params(request, parse_json)
        document_id = params.get(DOCUMENT_ID)
        if document_id is not None:
            if not isinstance(document_id, str):
                raise HTTPException(400, "The GraphQL operation's `documentId` must be a string, if provided.")
            return RequestWithDocumentId(**vars(data), document_id=document_id)
    return data


async def resolved(data: GraphQLRequestData, documents: PersistedDocuments, context: Context) -> GraphQLRequestData:
    """`data` with the document it names as its query; raises the CodedError to answer."""
    document_id = data.document_id if isinstance(data, RequestWithDocumentId) else None
    document = await documents.resolve(DocumentRequest(data.query, data.extensions, document_id), admin_check(context))
    return dataclasses.replace(data, query=document)


def names_a_document(params: Mapping[str, object]) -> bool:
    """A GET without `query` that names a persisted document is an operation, not a visit to GraphiQL."""
    return DOCUMENT_ID in params or "extensions" in params


async def _params(request: AsyncHTTPRequestAdapter, parse_json: Callable[[bytes], object]) -> Mapping[str, object]:
    if request.method == "GET":
        return request.query_params
    content_type, _ = parse_content_type(request.content_type or "")
    if "application/json" not in content_type:
        return {}
    body = parse_json(await request.get_body())  # decoded once already, so it decodes again
    return body if isinstance(body, Mapping) else {}
