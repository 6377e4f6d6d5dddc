"""Access tokens the gateway issues, and enterprise assertions front ends sign.

Both are compact JWS with EdDSA (Ed25519), and verification pins that algorithm:
a token claiming `none` or an HMAC algorithm is refused before any key is tried,
so the public key can never be misused as an HMAC secret. Tokens carry everything
the guard needs (kind, scopes, department, roles), so verifying one needs no
database round trip; their five-minute life bounds how long a disabled client's
last token lasts.
"""

from __future__ import annotations

import base64
import functools
import os
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mianshen_shared import uscc as uscc_rules

AUDIENCE = "mianshen-gateway"
ALGORITHM = "EdDSA"
# An assertion says "this user of this front end acts for this enterprise now";
# it must not outlive a short session step.
MAX_ASSERTION_SECONDS = 300
_LEEWAY_SECONDS = 5
_DEV_KEY_FILE = "gateway-signing-key"
# Tokens remembered as verified per process; beyond it the oldest is checked again.
VERIFIED_CACHE_SIZE = 10_000


class TokenError(Exception):
    """A token or assertion that must not be trusted; the message is for logs."""


@dataclass(frozen=True)
class KeyRing:
    """The first key signs; every key verifies, so keys rotate without a flag day.

    A token that verified is remembered, by its exact text, until it expires (at
    most `VERIFIED_CACHE_SIZE` of them): a client presents the same token for five
    minutes, and checking its signature again on every call would be most of what
    authentication costs. Expiry is still checked on every use."""

    keys: tuple[tuple[str, Ed25519PrivateKey], ...]
    _public: dict[str, Ed25519PublicKey] = field(init=False, repr=False, compare=False)
    _verified: OrderedDict[tuple[str, str], dict[str, Any]] = field(
        init=False, repr=False, compare=False, default_factory=OrderedDict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_public", {kid: key.public_key() for kid, key in self.keys})

    @classmethod
    def parse(cls, ring: str) -> KeyRing:
        keys = []
        for entry in ring.split(","):
            kid, sep, encoded = entry.strip().partition(":")
            if not sep or not kid:
                raise ValueError(f"signing key entry {kid!r} is not <kid>:<base64 key>")
            raw = base64.b64decode(encoded)
            if len(raw) != 32:
                raise ValueError(f"signing key {kid!r} is not a 32-byte Ed25519 private key")
            keys.append((kid, Ed25519PrivateKey.from_private_bytes(raw)))
        return cls(tuple(keys))

    @classmethod
    def from_config(cls, ring: str, *, environment: str, state_dir: Path) -> KeyRing:
        if ring:
            return cls.parse(ring)
        if environment == "production":
            raise ValueError("MIANSHEN_GATEWAY_SIGNING_KEYS must be set in production")
        return cls.parse(_development_ring(state_dir))

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        return self._public.get(kid)

    def issue(self, claims: dict[str, Any], *, issuer: str, lifetime: int) -> str:
        kid, key = self.keys[0]
        now = int(time.time())
        payload = {
            **claims,
            "iss": issuer,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(payload, key, algorithm=ALGORITHM, headers={"kid": kid})

    def verify(self, token: str, *, issuer: str) -> dict[str, Any]:
        remembered = self._verified.get((issuer, token))
        if remembered is not None:
            if time.time() < int(remembered["exp"]) + _LEEWAY_SECONDS:
                return dict(remembered)
            self._verified.pop((issuer, token), None)
        claims = self._verify_signed(token, issuer=issuer)
        self._verified[(issuer, token)] = claims
        while len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return dict(claims)

    def _verify_signed(self, token: str, *, issuer: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError(f"unreadable token: {exc}") from exc
        if header.get("alg") != ALGORITHM:
            raise TokenError(f"algorithm {header.get('alg')!r} is not accepted")
        key = self.public_key(str(header.get("kid", "")))
        if key is None:
            raise TokenError("unknown signing key")
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=issuer,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from exc


def new_ring_entry(kid: str) -> str:
    """A fresh `<kid>:<base64 key>` for MIANSHEN_GATEWAY_SIGNING_KEYS."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return f"{kid}:{base64.b64encode(raw).decode()}"


def _development_ring(state_dir: Path) -> str:
    """One key per checkout, shared by every local replica; created on first use."""
    path = state_dir / _DEV_KEY_FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another replica won the race; read what it wrote
        else:
            with os.fdopen(fd, "w") as f:
                f.write(new_ring_entry("dev-" + secrets.token_hex(4)))
    for _ in range(50):
        text = path.read_text().strip()
        if text:
            return text
        time.sleep(0.01)
    raise ValueError(f"development signing key {path} is empty")


@dataclass(frozen=True)
class EnterpriseAssertion:
    frontend: str
    uscc: str
    user: str


@functools.lru_cache(maxsize=256)
def load_public_key(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("assertion keys must be Ed25519 public keys")
    return key


def verify_assertion(assertion: str, *, frontend: str, keys: list[dict[str, str]]) -> EnterpriseAssertion:
    """Check a front end's statement that its signed-in user acts for an enterprise."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise TokenError(f"unreadable assertion: {exc}") from exc
    if header.get("alg") != ALGORITHM:
        raise TokenError(f"assertion algorithm {header.get('alg')!r} is not accepted")
    kid = header.get("kid")
    candidates = [k for k in keys if kid is None or k.get("kid") == kid]
    if not candidates:
        raise TokenError("assertion signed with an unregistered key")
    last: Exception | None = None
    for entry in candidates:
        try:
            claims = jwt.decode(
                assertion,
                load_public_key(entry["public_key"]),
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=frontend,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
            )
            break
        except (jwt.PyJWTError, ValueError) as exc:
            last = exc
    else:
        raise TokenError(f"assertion not verified: {last}")
    if int(claims["exp"]) - int(claims["iat"]) > MAX_ASSERTION_SECONDS:
        raise TokenError("assertion lives longer than five minutes")
    user = claims.get("user")
    if not isinstance(user, str) or not user or len(user) > 128:
        raise TokenError("assertion names no user")
    enterprise = str(claims["sub"])
    if not uscc_rules.is_valid(enterprise):
        raise TokenError("assertion subject is not a valid USCC")
    return EnterpriseAssertion(frontend=frontend, uscc=enterprise, user=user)


def sign_assertion(
    key: Ed25519PrivateKey, *, frontend: str, uscc: str, user: str, kid: str | None = None, lifetime: int = 120
) -> str:
    """What a front end sends in X-Enterprise-Assertion (used by tests and the dev stack)."""
    now = int(time.time())
    claims = {
        "iss": frontend,
        "sub": uscc,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
        "user": user,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid} if kid else None)
