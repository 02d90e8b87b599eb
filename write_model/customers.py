"""The customer aggregate: registration, erasure, and the customer state events carry."""

from __future__ import annotations

import re
import uuid
from typing import Any

from write_model import events
from write_model.commands import EraseCustomer, RegisterCustomer
from write_model.errors import Duplicate, InvalidState, NotPermitted, check_version, found
from write_model.personal import ERASED_NAME
from write_model.results import Accepted
from write_model.tables import CustomerRow, PlainCustomer, as_utc, utc_now
from write_model.unit_of_work import UnitOfWork
from write_model.validation import Checks

MAX_EMAIL = 254
MAX_NAME = 200
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
ERASED = "ERASED"


def register_customer(command: RegisterCustomer, uow: UnitOfWork) -> Accepted:
    email = command.email.strip()
    checks = Checks()
    checks.text("email", email, max_length=MAX_EMAIL)
    if email and not _EMAIL.fullmatch(email):
        checks.fail("email", "must be an email address")
    checks.text("name", command.name, max_length=MAX_NAME)
    checks.raise_if_any()
    email_key = uow.email_keys(email)
    if uow.customers.by_email_key(email_key) is not None:
        raise Duplicate(f"A customer with email {email!r} is already registered.", "email")
    now = utc_now()
    customer = CustomerRow(
        id=str(uuid.uuid4()), email=email, email_key=email_key, name=command.name.strip(), version=1,
        created_at=now, updated_at=now,
    )
    uow.customers.add(customer)
    uow.keys.create(customer.id)
    payload = state_payload(customer)
    uow.outbox.record(
        events.NewEvent(events.CUSTOMER, customer.id, customer.version, events.CUSTOMER_REGISTERED, payload)
    )
    position = uow.commit()
    return Accepted(customer.id, customer.version, position)


def erase_customer(command: EraseCustomer, uow: UnitOfWork) -> Accepted:
    """Delete the customer's key (every event of theirs then reads as erased), blank their personal
    columns and record CustomerErased, in one transaction. Their orders stay as they were."""
    if command.actor is not None and command.actor != command.id:
        raise NotPermitted("A customer may erase only themselves.")
    # Locked where writers run concurrently, as placing an order locks it: an order of theirs
    # commits before the erasure (and is erased with the rest) or sees them erased.
    customer = found("customer", command.id, uow.customers.get(command.id))
    check_version("customer", command.expected_version, customer.version)
    if customer.erased_at is not None:
        raise InvalidState("The customer is erased already.", ERASED)
    uow.keys.delete(customer.id)
    now = utc_now()
    customer.email = customer.email_key = None
    customer.name = ERASED_NAME
    customer.erased_at = customer.updated_at = now
    customer.version += 1
    payload = {**state_payload(customer), "orderIds": uow.orders.ids_of(customer.id)}
    uow.outbox.record(events.NewEvent(events.CUSTOMER, customer.id, customer.version, events.CUSTOMER_ERASED, payload))
    position = uow.commit()
    return Accepted(customer.id, customer.version, position)


def state_payload(customer: CustomerRow | PlainCustomer) -> dict[str, Any]:
    """The customer as its read document needs it, with its order statistics at this moment."""
    return {
        "id": customer.id,
        "email": customer.email,
        "name": customer.name,
        "version": customer.version,
        "orderCount": customer.order_count,
        "totalSpentMinor": customer.total_spent_minor,
        "createdAt": as_utc(customer.created_at).isoformat(),
        "updatedAt": as_utc(customer.updated_at).isoformat(),
    }

