"""A small identity provider for tests: real RSA and EC keys, the tokens they sign, and a JWKS
endpoint on loopback (http.server in a thread) whose published keys a test may change."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.utils import base64url_encode

ISSUER = "https://id.example.test/realms/shop"
AUDIENCE = "storefront"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @classmethod
    def rsa(cls, kid: str) -> SigningKey:
        return cls(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def ec(cls, kid: str) -> SigningKey:
        return cls(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))

    def jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        fields = (RSAAlgorithm.to_jwk(public, as_dict=True) if isinstance(public, rsa.RSAPublicKey)
                  else ECAlgorithm.to_jwk(public, as_dict=True))
        return {**fields, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, claims: dict[str, Any], *, kid: str | None = "own") -> str:
        """A token signed by this key; `kid` names another key in the header, or none."""
        headers = {} if kid is None else {"kid": self.kid if kid == "own" else kid}
        return jwt.encode(claims, self.private_key, algorithm=self.algorithm, headers=headers)


def claims(subject: str, roles: list[str], *, expires_in_s: float = 600, **extra: Any) -> dict[str, Any]:
    """Claims as an identity provider issues them for this server."""
    return {"sub": subject, "roles": roles, "exp": int(time.time() + expires_in_s), "iss": ISSUER,
            "aud": AUDIENCE, **extra}


def _signing_input(algorithm: str, payload: dict[str, Any], kid: str | None) -> bytes:
    header = {"alg": algorithm, "typ": "JWT", **({"kid": kid} if kid else {})}
    return b".".join(base64url_encode(json.dumps(part).encode()) for part in (header, payload))


def hs256_with(secret: bytes, payload: dict[str, Any], kid: str | None = None) -> str:
    """An HS256 token made by hand: PyJWT refuses to use a public key as an HMAC secret, an
    attacker does not."""
    signing_input = _signing_input("HS256", payload, kid)
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + base64url_encode(signature)).decode()


def unsigned(payload: dict[str, Any], kid: str | None = None) -> str:
    """An `alg: none` token."""
    return (_signing_input("none", payload, kid) + b".").decode()


class JwksEndpoint:
    """Serves `{"keys": [...]}` at /jwks until stopped; `publish` changes the keys it serves,
    `hold` makes it wait before answering, and `requests` counts what it was asked."""

    def __init__(self, keys: list[SigningKey]) -> None:
        self.requests = 0
        self._body = b""
        self._answer = threading.Event()
        self._answer.set()
        self.publish(keys)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # A short poll: shutdown() waits for the loop's next look at its flag (0.5 s by default).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/jwks"

    def publish(self, keys: list[SigningKey]) -> None:
        self._body = json.dumps({"keys": [key.jwk() for key in keys]}).encode()

    def serve_raw(self, body: bytes) -> None:
        self._body = body

    def hold(self) -> None:
        self._answer.clear()

    def release(self) -> None:
        self._answer.set()

    def stop(self) -> None:
        """Afterwards connections to its port are refused."""
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> JwksEndpoint:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._thread.is_alive():
            self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                endpoint.requests += 1
                endpoint._answer.wait(timeout=30)
                body = endpoint._body
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the tests assert on what was served, not on access logs."""

        return Handler
