"""Sealing bank account numbers: AES-256-GCM under a key ring from configuration.

A sealed value reads `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`. The key
id names which key sealed it, so keys can be rotated: new values are sealed with
the first key of the ring, old values still open with the key they name. Keys
never touch a database or a topic; they come from the environment
(`MIANSHEN_ACCOUNT_KEYS="k2026:<base64 32 bytes>,k2025:<…>"`, in production a
Kubernetes Secret). The associated data binds a sealed value to its purpose, so
a value sealed for one field cannot be replayed into another.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "v1"
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
ACCOUNT_NUMBER = b"bank-account-number"
# Only for development and tests: a fixed, published key, refused in production.
DEVELOPMENT_KEYS = "dev:" + base64.b64encode(b"mianshen-development-key-32bytes").decode()


class SealingError(ValueError):
    """A key ring that cannot be used, or a sealed value that does not open."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_key_ring(ring: str) -> tuple[tuple[str, bytes], ...]:
    """`<id>:<base64 32 bytes>,…` as (id, key) pairs in order; the first is current."""
    keys = []
    for entry in ring.split(","):
        key_id, sep, encoded = entry.strip().partition(":")
        if not sep or not KEY_ID.match(key_id):
            raise SealingError(f"key ring entry {key_id!r} is not <id>:<base64 key>")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise SealingError(f"key {key_id!r} is not valid base64") from exc
        if len(key) != 32:
            raise SealingError(f"key {key_id!r} must be 32 bytes, got {len(key)}")
        keys.append((key_id, key))
    if len({k for k, _ in keys}) != len(keys):
        raise SealingError("key ids in the ring must be unique")
    return tuple(keys)


@dataclass(frozen=True)
class Sealer:
    """The first key seals; every key in the ring opens what it sealed."""

    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_config(cls, ring: str, *, environment: str = "development") -> Sealer:
        if not ring:
            if environment == "production":
                raise SealingError("MIANSHEN_ACCOUNT_KEYS must be set in production")
            ring = DEVELOPMENT_KEYS
        elif environment == "production" and ring == DEVELOPMENT_KEYS:
            raise SealingError("the development account key must not be used in production")
        return cls(parse_key_ring(ring))

    @classmethod
    def from_environment(cls) -> Sealer:
        return cls.from_config(
            os.environ.get("MIANSHEN_ACCOUNT_KEYS", ""),
            environment=os.environ.get("MIANSHEN_ENVIRONMENT", "development"),
        )

    def seal(self, plaintext: str, *, purpose: bytes = ACCOUNT_NUMBER) -> str:
        key_id, key = self.keys[0]
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), purpose)
        return f"{PREFIX}.{key_id}.{_b64(nonce + sealed)}"

    def open(self, sealed: str, *, purpose: bytes = ACCOUNT_NUMBER) -> str:
        prefix, _, rest = sealed.partition(".")
        key_id, _, body = rest.partition(".")
        if prefix != PREFIX or not key_id or not body:
            raise SealingError("not a sealed value")
        key = dict(self.keys).get(key_id)
        if key is None:
            raise SealingError(f"sealed with key {key_id!r}, which is not in the ring")
        try:
            raw = _unb64(body)
            return AESGCM(key).decrypt(raw[:12], raw[12:], purpose).decode()
        except (InvalidTag, ValueError) as exc:
            raise SealingError("sealed value does not open (tampered, or another purpose)") from exc

    def key_id_of(self, sealed: str) -> str:
        return sealed.split(".", 2)[1]

    def needs_rotation(self, sealed: str) -> bool:
        return self.key_id_of(sealed) != self.keys[0][0]


def mask_account_number(number: str) -> str:
    """Enough to recognise one's own account, never enough to use it."""
    visible_head = 4 if len(number) >= 12 else 0
    return number[:visible_head] + "*" * (len(number) - visible_head - 4) + number[-4:]
