"""The customer aggregate: registration, and the customer state events carry."""

from __future__ import annotations

import re
import uuid
from typing import Any

from write_model import events
from write_model.commands import RegisterCustomer
from write_model.errors import Duplicate
from write_model.results import Accepted
from write_model.tables import CustomerRow, as_utc, utc_now
from write_model.unit_of_work import UnitOfWork
from write_model.validation import Checks

MAX_EMAIL = 254
MAX_NAME = 200
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def register_customer(command: RegisterCustomer, uow: UnitOfWork) -> Accepted:
    email = command.email.strip()
    checks = Checks()
    checks.text("email", email, max_length=MAX_EMAIL)
    if email and not _EMAIL.fullmatch(email):
        checks.fail("email", "must be an email address")
    checks.text("name", command.name, max_length=MAX_NAME)
    checks.raise_if_any()
    if uow.customers.by_email_key(email.lower()) is not None:
        raise Duplicate(f"A customer with email {email!r} is already registered.", "email")
    now = utc_now()
    customer = CustomerRow(
        id=str(uuid.uuid4()), email=email, email_key=email.lower(), name=command.name.strip(), version=1,
        created_at=now, updated_at=now,
    )
    uow.customers.add(customer)
    payload = state_payload(customer, order_count=0, total_spent_minor=0)
    uow.outbox.record(
        events.NewEvent(events.CUSTOMER, customer.id, customer.version, events.CUSTOMER_REGISTERED, payload)
    )
    position = uow.commit()
    return Accepted(customer.id, customer.version, position)


def state_payload(customer: CustomerRow, *, order_count: int, total_spent_minor: int) -> dict[str, Any]:
    """The customer as its read document needs it, with its order statistics at this moment."""
    return {
        "id": customer.id,
        "email": customer.email,
        "name": customer.name,
        "version": customer.version,
        "orderCount": order_count,
        "totalSpentMinor": total_spent_minor,
        "createdAt": as_utc(customer.created_at).isoformat(),
        "updatedAt": as_utc(customer.updated_at).isoformat(),
    }


def state_payload_with_stats(uow: UnitOfWork, customer: CustomerRow) -> dict[str, Any]:
    stats = uow.orders.stats(customer.id)
    return state_payload(customer, order_count=stats.count, total_spent_minor=stats.total_minor)
