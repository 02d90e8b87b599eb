"""Personal data in the event log: sealed with a key per customer, so that deleting the key erases it.

Every personal field an event carries (a customer's email and name, and the customer's name an
order keeps) is stored encrypted with AES-GCM under its customer's key, bound to the customer's
id. The log is never rewritten to erase someone: once their key is deleted (`erase_customer`),
every event of theirs reads as erased wherever it is stored (crypto-shredding). Emails are kept
unique by a keyed hash, so no table needs an email to compare.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from write_model import events

ERASED_NAME = "erased customer"
SEALED = "sealed"
"""The field that holds a part's personal fields, encrypted (base64 of nonce and ciphertext)."""
KEY_BYTES = 32
_NONCE_BYTES = 12

Ciphers = Callable[[str], AESGCM | None]
"""A customer's cipher by their id; None once they are erased."""


@dataclass(frozen=True)
class _Part:
    """The personal fields of one part of a payload: its own top level (`nested` None) or the
    object under `nested`, whose `owner` field names the customer they belong to. `erased` gives
    each personal field and what it reads once the customer is erased."""

    nested: str | None
    owner: str
    erased: Mapping[str, Any]


_CUSTOMER_FIELDS = {"email": None, "name": ERASED_NAME}
# Order events carry the order's snapshot of the customer's name and, under "customer", the customer.
_PARTS: dict[str, tuple[_Part, ...]] = {
    events.CUSTOMER: (_Part(None, "id", _CUSTOMER_FIELDS),),
    events.ORDER: (_Part(None, "customerId", {"customerName": ERASED_NAME}), _Part("customer", "id", _CUSTOMER_FIELDS)),
}


class MissingKey(RuntimeError):
    """Personal data of a customer who has no key: storing it would leave it in clear for good."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=8 * KEY_BYTES)


def owners(stream_type: str, payload: Mapping[str, Any]) -> set[str]:
    """The customers whose personal data (sealed or not) the payload carries."""
    found = set()
    for part in _PARTS.get(stream_type, ()):
        section = _section(payload, part)
        if section is not None and (SEALED in section or not part.erased.keys().isdisjoint(section)):
            found.add(section[part.owner])
    return found


def seal(stream_type: str, payload: dict[str, Any], ciphers: Ciphers) -> dict[str, Any]:
    """The payload as the log stores it: each part's personal fields encrypted with its customer's
    key. An erased customer's part keeps its erased values as they are (they are no one's data)."""
    return _each_part(stream_type, payload, lambda part, section: _seal(part, section, ciphers))


def unseal(stream_type: str, payload: dict[str, Any], ciphers: Ciphers) -> dict[str, Any]:
    """The payload with its personal fields in clear, or erased where the customer's key is gone.
    Parts never sealed (stored before sealing existed, and not yet sealed) are returned as they are."""
    return _each_part(stream_type, payload, lambda part, section: _unseal(part, section, ciphers))


def _each_part(stream_type: str, payload: dict[str, Any],
               change: Callable[[_Part, dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    parts = _PARTS.get(stream_type)
    if not parts:
        return payload
    changed = payload
    for part in parts:
        section = _section(changed, part)
        if section is None:
            continue
        new_section = change(part, section)
        if new_section is section:
            continue
        changed = new_section if part.nested is None else {**changed, part.nested: new_section}
    return changed


def _section(payload: Mapping[str, Any], part: _Part) -> Any:
    section = payload if part.nested is None else payload.get(part.nested)
    return section if isinstance(section, dict) and part.owner in section else None


def _seal(part: _Part, section: dict[str, Any], ciphers: Ciphers) -> dict[str, Any]:
    personal = {name: section[name] for name in part.erased if name in section}
    if not personal:
        return section
    owner: str = section[part.owner]
    cipher = ciphers(owner)
    if cipher is None:
        if any(value != part.erased[name] for name, value in personal.items()):
            raise MissingKey(f"customer {owner} has no key: their personal data cannot be sealed")
        return section
    nonce = os.urandom(_NONCE_BYTES)
    sealed = cipher.encrypt(nonce, json.dumps(personal).encode(), owner.encode())
    rest = {name: value for name, value in section.items() if name not in personal}
    rest[SEALED] = base64.b64encode(nonce + sealed).decode()
    return rest


def _unseal(part: _Part, section: dict[str, Any], ciphers: Ciphers) -> dict[str, Any]:
    envelope = section.get(SEALED)
    if envelope is None:
        return section
    owner: str = section[part.owner]
    rest = {name: value for name, value in section.items() if name != SEALED}
    cipher = ciphers(owner)
    if cipher is None:
        rest.update(part.erased)
        return rest
    raw = base64.b64decode(envelope)
    rest.update(json.loads(cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], owner.encode())))
    return rest


@dataclass(frozen=True)
class EmailKeys:
    """Emails are unique by HMAC-SHA256 of the lower-cased address under a server secret: the table
    holds no address, and without the secret its hashes cannot be matched against a list of emails."""

    secret: bytes = field(repr=False)

    def __call__(self, email: str) -> str:
        return hmac.new(self.secret, email.strip().lower().encode(), hashlib.sha256).hexdigest()


# For open development and tests; `STOREFRONT_EMAIL_HMAC_SECRET` sets a deployment's own.
DEVELOPMENT_EMAIL_KEYS = EmailKeys(b"storefront-development-email-hmac-secret")
