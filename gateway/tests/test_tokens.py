"""The key ring on its own: what it remembers of tokens it verified, and for how long."""

from __future__ import annotations

import time

import pytest

from gateway import tokens
from gateway.tokens import KeyRing, TokenError, new_ring_entry

pytestmark = pytest.mark.unit
ISSUER = "https://gateway.test"


def ring() -> KeyRing:
    return KeyRing.parse(new_ring_entry("k1"))


def issued(keys: KeyRing, lifetime: int = 60) -> str:
    return keys.issue({"sub": "dept.gxj", "kind": "department"}, issuer=ISSUER, lifetime=lifetime)


def test_a_remembered_token_is_checked_in_full_again_once_past_its_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = ring()
    token = issued(keys, lifetime=60)
    checked: list[str] = []
    verify_signed = KeyRing._verify_signed

    def counted(self: KeyRing, t: str, *, issuer: str) -> dict[str, object]:
        checked.append(t)
        return verify_signed(self, t, issuer=issuer)

    monkeypatch.setattr(KeyRing, "_verify_signed", counted)

    for _ in range(3):
        assert keys.verify(token, issuer=ISSUER)["sub"] == "dept.gxj"
    assert checked == [token]

    later = time.time() + 120
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    keys.verify(token, issuer=ISSUER)  # PyJWT's own clock is not moved: it passes there
    assert checked == [token, token]


def test_a_token_is_remembered_only_for_the_issuer_it_was_verified_for() -> None:
    keys = ring()
    token = issued(keys)
    keys.verify(token, issuer=ISSUER)
    with pytest.raises(TokenError, match="issuer"):
        keys.verify(token, issuer="https://elsewhere.test")


def test_a_token_from_another_ring_is_refused_even_after_a_genuine_one_was_remembered() -> None:
    keys, other = ring(), ring()
    keys.verify(issued(keys), issuer=ISSUER)
    with pytest.raises(TokenError, match=r"[Ss]ignature"):
        keys.verify(issued(other), issuer=ISSUER)


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_CACHE_SIZE", 3)
    keys = ring()
    first, *rest = [issued(keys) for _ in range(5)]
    for token in (first, *rest):
        keys.verify(token, issuer=ISSUER)
    assert len(keys._verified) == 3
    assert (ISSUER, first) not in keys._verified
