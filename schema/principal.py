"""Who is asking. The schema only sees a Principal; turning a bearer token into one is the
composition root's job (server/auth.py), so this package never touches JWT."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ADMIN = "admin"
CUSTOMER = "customer"


@dataclass(frozen=True)
class Principal:
    subject: str | None
    roles: frozenset[str]
    expires_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def customer_id(self) -> str | None:
        """The customer this principal may act for; None for admins and everyone else."""
        return self.subject if CUSTOMER in self.roles and not self.is_admin else None


ANONYMOUS = Principal(None, frozenset())
# Open development mode (no JWT secret, JWKS URL or public key): every caller is an admin.
DEVELOPER = Principal("developer", frozenset({ADMIN}))


class InvalidCredentials(Exception):
    """A token was presented and is not acceptable (expired, bad signature, malformed)."""


