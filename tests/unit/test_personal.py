"""Personal fields sealed per customer in event payloads, and the keyed hash of emails."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from write_model import events
from write_model.personal import (
    DEVELOPMENT_EMAIL_KEYS,
    ERASED_NAME,
    SEALED,
    EmailKeys,
    MissingKey,
    new_key,
    owners,
    seal,
    unseal,
)

# Neither name nor email can occur in base64 by chance: "-", "@" and "." are not of its alphabet.
NAME = "Ann Quist-Marlowe"
ANN = {"id": "c-1", "email": "ann@example.com", "name": NAME, "orderCount": 1, "totalSpentMinor": 250}
ORDER = {"id": "o-1", "customerId": "c-1", "customerName": NAME, "status": "PLACED", "totalMinor": 250,
         "customer": ANN}
CIPHERS = {"c-1": AESGCM(new_key()), "c-2": AESGCM(new_key())}


@pytest.mark.parametrize(("stream_type", "payload"), [(events.CUSTOMER, ANN), (events.ORDER, ORDER)])
def test_sealed_personal_fields_are_unreadable_in_the_payload_and_unseal_to_what_they_were(
    stream_type: str, payload: dict[str, Any]
) -> None:
    sealed = seal(stream_type, payload, CIPHERS.get)

    assert "ann@example.com" not in json.dumps(sealed) and NAME not in json.dumps(sealed)
    assert sealed["id"] == payload["id"] and SEALED in sealed
    assert owners(stream_type, sealed) == {"c-1"}
    assert unseal(stream_type, sealed, CIPHERS.get) == payload


def test_without_the_key_a_sealed_payload_reads_as_erased_and_nothing_personal_is_sealed() -> None:
    sealed = seal(events.ORDER, ORDER, CIPHERS.get)

    erased = unseal(events.ORDER, sealed, {}.get)

    assert erased == {**ORDER, "customerName": ERASED_NAME, "customer": {**ANN, "email": None, "name": ERASED_NAME}}
    assert seal(events.ORDER, erased, {}.get) == erased  # an erased customer's events carry nothing to seal
    with pytest.raises(MissingKey):
        seal(events.CUSTOMER, ANN, {}.get)


def test_a_sealed_part_opens_only_for_the_customer_it_was_sealed_for() -> None:
    sealed = seal(events.CUSTOMER, ANN, CIPHERS.get)

    with pytest.raises(InvalidTag):
        unseal(events.CUSTOMER, {**sealed, "id": "c-2"}, CIPHERS.get)


def test_products_and_payloads_stored_before_sealing_pass_through() -> None:
    product = {"id": "p-1", "name": "Mug", "priceMinor": 100}

    assert seal(events.PRODUCT, product, CIPHERS.get) is product
    assert unseal(events.CUSTOMER, ANN, CIPHERS.get) is ANN


def test_email_keys_ignore_case_and_depend_on_the_secret() -> None:
    assert DEVELOPMENT_EMAIL_KEYS(" Ann@Example.com") == DEVELOPMENT_EMAIL_KEYS("ann@example.com")
    assert EmailKeys(b"another secret entirely")("ann@example.com") != DEVELOPMENT_EMAIL_KEYS("ann@example.com")
    assert "ann" not in DEVELOPMENT_EMAIL_KEYS("ann@example.com")
