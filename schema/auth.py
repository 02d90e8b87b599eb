"""What a caller may do (OPERATIONS.md, "Auth"): guards the resolvers call first."""

from __future__ import annotations

import strawberry

from schema.context import Context
from schema.errors import Forbidden, Unauthenticated
from schema.principal import InvalidCredentials, Principal

Info = strawberry.Info[Context, None]


async def caller(info: Info) -> Principal:
    """The principal; a bad token is UNAUTHENTICATED whatever the operation."""
    try:
        return await info.context.identify()
    except InvalidCredentials as error:
        raise Unauthenticated(str(error)) from error


async def require_admin(info: Info) -> Principal:
    principal = await require_customer_or_admin(info)
    if not principal.is_admin:
        raise Forbidden("Only an admin may do this.")
    return principal


async def require_customer_or_admin(info: Info) -> Principal:
    principal = await caller(info)
    if principal.subject is None:
        raise Unauthenticated("Sign in: send `Authorization: Bearer <token>`.")
    if not (principal.is_admin or principal.customer_id):
        raise Forbidden("This token's roles grant no access to customer data.")
    return principal


def scope_of(principal: Principal) -> tuple[bool, bool, str | None]:
    """All that the rules of this module look at: principals of the same scope may see the same
    things, so their subscriptions may share notifications; others never do."""
    return principal.subject is None, principal.is_admin, principal.customer_id


def visible_to(principal: Principal, owner_id: str) -> bool:
    """Customers see only their own records; to them, others' look like they do not exist."""
    return principal.is_admin or principal.customer_id == owner_id
