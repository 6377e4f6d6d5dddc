"""Who may do what at the gateway: tokens verified strictly, enterprises kept
apart, departments to their own records, operators by role, third parties by consent."""

from __future__ import annotations

import base64
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway import bootstrap, clients
from gateway.access import ROUTE_SCOPES
from gateway.main import ALL_ROUTERS
from gateway.testing import ClientAuth
from gateway.tokens import AUDIENCE, sign_assertion
from mianshen_shared import testing

from .factories import batch, insurance_record, title_record
from .fakes import ok
from .harness import Harness, assert_problem

pytestmark = pytest.mark.unit
CONFIRMATION = "http://127.0.0.1:8003"
ELIGIBILITY = "http://127.0.0.1:8002"
A = testing.make_uscc()
B = testing.make_uscc("410102")


async def _token(gw: Harness, client_id: str, secret: str | None = None) -> str:
    assert gw.bare is not None
    secret = secret if secret is not None else gw.registry[client_id].secret
    r = await gw.bare.post("/v1/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"
    return str(r.json()["access_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _claims(gw: Harness, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "auditor.sun",
        "kind": "operator",
        "scope": "operator:read audit:read",
        "iss": gw.settings.token_issuer,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 60,
    }
    claims.update(overrides)
    return claims


def _signed(gw: Harness, claims: dict[str, object]) -> str:
    ring = gw.app.state.gateway.keys
    kid, key = ring.keys[0]
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


async def test_a_genuine_token_reads_operator_routes(gw: Harness) -> None:
    gw.services.reply("http://127.0.0.1:8005", "/budgets", ok({"items": []}))
    assert gw.bare is not None
    r = await gw.bare.get("/v1/operator/budgets", headers=_bearer(_signed(gw, _claims(gw))))
    assert r.status_code == 200, r.text


def _forgeries(gw: Harness) -> dict[str, str]:
    ring = gw.app.state.gateway.keys
    kid, key = ring.keys[0]
    public_raw = key.public_key().public_bytes_raw()
    unsigned = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    payload = jwt.encode(_claims(gw), "x", algorithm="HS256").split(".")[1]
    return {
        "forged-signature": jwt.encode(
            _claims(gw), Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid}
        ),
        "expired": _signed(gw, _claims(gw, iat=int(time.time()) - 600, exp=int(time.time()) - 300)),
        "alg-none": f"{unsigned}.{payload}.",
        "hs256-with-public-key": jwt.encode(_claims(gw), public_raw, algorithm="HS256", headers={"kid": kid}),
        "wrong-audience": _signed(gw, _claims(gw, aud="another-api")),
        "wrong-issuer": _signed(gw, _claims(gw, iss="https://evil.example")),
        "no-subject": _signed(gw, {k: v for k, v in _claims(gw).items() if k != "sub"}),
        "garbage": "not-a-token",
    }


@pytest.mark.parametrize(
    "forgery",
    [
        "forged-signature",
        "expired",
        "alg-none",
        "hs256-with-public-key",
        "wrong-audience",
        "wrong-issuer",
        "no-subject",
        "garbage",
    ],
)
async def test_an_untrustworthy_token_is_refused_with_a_bearer_challenge(gw: Harness, forgery: str) -> None:
    assert gw.bare is not None
    r = await gw.bare.get("/v1/operator/budgets", headers=_bearer(_forgeries(gw)[forgery]))
    assert_problem(r, 401, "invalid_token")
    assert r.headers["www-authenticate"].startswith('Bearer realm="mianshen-gateway", error="invalid_token"')
    assert gw.services.requests_to("/budgets") == []


async def test_a_call_without_a_token_is_refused_when_authentication_is_required(gw: Harness) -> None:
    assert gw.bare is not None
    r = await gw.bare.get(f"/v1/enterprises/{A}/entitlements")
    assert_problem(r, 401, "authentication_required")
    assert "error=" not in r.headers["www-authenticate"]


async def test_public_routes_need_no_token(gw: Harness) -> None:
    gw.services.reply("http://127.0.0.1:8001", "/policies", ok({"items": []}))
    assert gw.bare is not None
    assert (await gw.bare.get("/v1/policies")).status_code == 200


async def test_a_wrong_secret_gets_no_token(gw: Harness) -> None:
    assert gw.bare is not None
    for client_id, secret in [("dept.gxj", "wrong"), ("nobody", "whatever")]:
        r = await gw.bare.post("/v1/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
        body = assert_problem(r, 401, "invalid_client")
        assert body["error"] == "invalid_client"


async def test_a_token_is_not_issued_for_scopes_beyond_the_client(gw: Harness) -> None:
    assert gw.bare is not None
    r = await gw.bare.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "scope": "records:write policies:publish"},
        auth=("dept.gxj", gw.registry["dept.gxj"].secret),
    )
    assert_problem(r, 400, "invalid_scope")


async def test_enterprise_a_cannot_read_enterprise_bs_entitlements(gw: Harness) -> None:
    gw.services.reply(CONFIRMATION, f"/enterprises/{B}/entitlements", ok({"items": [{"secret": "B的数据"}]}))
    r = await gw.client.get(f"/v1/enterprises/{B}/entitlements", auth=ClientAuth(gw.registry["qinqing"], enterprise=A))
    body = assert_problem(r, 404, "enterprise_not_found")
    assert "B的数据" not in r.text and "items" not in body
    assert gw.services.requests_to(f"/enterprises/{B}/entitlements") == []


async def test_a_front_end_without_an_enterprise_assertion_is_refused(gw: Harness) -> None:
    token = await _token(gw, "qinqing")
    assert gw.bare is not None
    r = await gw.bare.get(f"/v1/enterprises/{A}/entitlements", headers=_bearer(token))
    assert_problem(r, 401, "enterprise_assertion_required")


async def test_an_assertion_signed_by_an_unregistered_key_is_refused(gw: Harness) -> None:
    token = await _token(gw, "qinqing")
    forged = sign_assertion(Ed25519PrivateKey.generate(), frontend="qinqing", uscc=A, user="u1")
    assert gw.bare is not None
    r = await gw.bare.get(
        f"/v1/enterprises/{A}/entitlements", headers={**_bearer(token), "X-Enterprise-Assertion": forged}
    )
    assert_problem(r, 401, "invalid_enterprise_assertion")


async def test_a_department_pushing_another_departments_record_type_publishes_nothing(gw: Harness) -> None:
    r = await gw.client.post(
        "/v1/data-events",
        json=batch(title_record(), insurance_record(department="gxj")),
        auth=ClientAuth(gw.registry["dept.gxj"]),
    )
    assert_problem(r, 403, "record_type_not_permitted")
    assert gw.producer.sent == []


async def test_a_department_cannot_claim_another_department(gw: Harness) -> None:
    r = await gw.client.post("/v1/data-events", json=batch(title_record()), auth=ClientAuth(gw.registry["dept.rsj"]))
    assert_problem(r, 403, "record_type_not_permitted")
    assert gw.producer.sent == []


async def test_a_department_pushes_its_own_records(gw: Harness) -> None:
    r = await gw.client.post("/v1/data-events", json=batch(title_record()), auth=ClientAuth(gw.registry["dept.gxj"]))
    assert r.status_code == 202, r.text
    assert len(gw.producer.sent) == 1


async def test_a_department_cannot_read_another_departments_instructions(gw: Harness) -> None:
    r = await gw.client.get("/v1/departments/rsj/instructions", auth=ClientAuth(gw.registry["dept.gxj"]))
    assert_problem(r, 403, "department_not_permitted")


async def test_a_front_end_token_on_operator_routes_is_forbidden(gw: Harness) -> None:
    auth = ClientAuth(gw.registry["qinqing"], enterprise=A)
    assert_problem(await gw.client.get("/v1/operator/budgets", auth=auth), 403, "client_not_permitted")
    r = await gw.client.put("/v1/operator/budgets/p1/2027", json={"amount_fen": 1}, auth=auth)
    assert_problem(r, 403, "client_not_permitted")


async def test_an_editor_cannot_publish(gw: Harness) -> None:
    r = await gw.client.post(
        "/v1/operator/policies/p1/versions/2/publish", json={}, auth=ClientAuth(gw.registry["editor.wang"])
    )
    assert_problem(r, 403, "insufficient_scope")
    assert gw.services.requests == []


async def test_a_client_sent_actor_cannot_impersonate_another_operator(gw: Harness) -> None:
    path = "/policies/p1/versions/2/publish"
    gw.services.reply("http://127.0.0.1:8001", path, ok({"status": "published"}))
    r = await gw.client.post(
        "/v1/operator" + path, json={}, headers={"X-Actor": "editor.wang"}, auth=ClientAuth(gw.registry["publisher.li"])
    )
    assert r.status_code == 200, r.text
    (sent,) = gw.services.requests_to(path)
    assert sent.headers["x-actor"] == "publisher.li"


def test_every_state_changing_operator_route_declares_its_scope() -> None:
    writes = {
        (method, route.path)
        for router in ALL_ROUTERS
        for route in router.routes
        if getattr(route, "path", "").startswith("/v1/operator/")
        for method in getattr(route, "methods", set())
        if method not in {"GET", "HEAD"}
    }
    assert writes <= ROUTE_SCOPES.keys()


async def test_a_third_party_reads_the_summary_only_while_consented(gw: Harness) -> None:
    summary = {"uscc": A, "total_amount_fen": 500_000, "policies": [], "bank_account": "6222…", "explanation": "x"}
    gw.services.reply(ELIGIBILITY, f"/enterprises/{A}/eligibility-summary", ok(summary))
    app = ClientAuth(gw.registry["app.fintech-demo"])
    frontend = ClientAuth(gw.registry["qinqing"], enterprise=A, user="boss")
    path = f"/v1/third-party/enterprises/{A}/eligibility-summary"

    assert_problem(await gw.client.get(path, auth=app), 403, "consent_required")

    granted = await gw.client.post(
        f"/v1/enterprises/{A}/consents", json={"client_id": "app.fintech-demo"}, auth=frontend
    )
    assert granted.status_code == 201, granted.text
    assert granted.json()["granted_by"] == "qinqing:boss"
    r = await gw.client.get(path, auth=app)
    assert r.status_code == 200, r.text
    assert r.json() == {"uscc": A, "total_amount_fen": 500_000, "policies": []}

    listed = await gw.client.get(f"/v1/enterprises/{A}/consents", auth=frontend)
    assert [c["client_id"] for c in listed.json()["items"]] == ["app.fintech-demo"]
    revoked = await gw.client.delete(f"/v1/enterprises/{A}/consents/app.fintech-demo", auth=frontend)
    assert revoked.status_code == 204
    assert_problem(await gw.client.get(path, auth=app), 403, "consent_required")


async def test_a_consent_for_one_enterprise_does_not_open_another(gw: Harness) -> None:
    frontend = ClientAuth(gw.registry["qinqing"], enterprise=A)
    await gw.client.post(f"/v1/enterprises/{A}/consents", json={"client_id": "app.fintech-demo"}, auth=frontend)
    r = await gw.client.get(
        f"/v1/third-party/enterprises/{B}/eligibility-summary", auth=ClientAuth(gw.registry["app.fintech-demo"])
    )
    assert_problem(r, 403, "consent_required")


async def test_bad_consent_requests_are_refused(gw: Harness) -> None:
    frontend = ClientAuth(gw.registry["qinqing"], enterprise=A)
    url = f"/v1/enterprises/{A}/consents"
    assert_problem(await gw.client.post(url, json={"client_id": "nobody"}, auth=frontend), 404, "client_not_found")
    assert_problem(await gw.client.post(url, json={"client_id": "dept.gxj"}, auth=frontend), 404, "client_not_found")
    r = await gw.client.post(url, json={"client_id": "app.fintech-demo", "scope": "all"}, auth=frontend)
    assert_problem(r, 422, "validation_failed")
    r = await gw.client.post(url, content=b"{", headers={"content-type": "application/json"}, auth=frontend)
    assert_problem(r, 400, "malformed_json")
    r = await gw.client.delete(f"{url}/app.fintech-demo", auth=frontend)
    assert_problem(r, 404, "consent_not_found")


async def test_the_old_secret_works_until_the_rotation_completes(gw: Harness) -> None:
    sessions = gw.app.state.gateway.sessions
    old = gw.registry["dept.gxj"].secret
    async with sessions() as session, session.begin():
        new = await clients.rotate_secret(session, "dept.gxj")
    await _token(gw, "dept.gxj", old)
    await _token(gw, "dept.gxj", new)
    async with sessions() as session, session.begin():
        await clients.complete_rotation(session, "dept.gxj")
    assert gw.bare is not None
    r = await gw.bare.post("/v1/oauth/token", data={"grant_type": "client_credentials"}, auth=("dept.gxj", old))
    assert_problem(r, 401, "invalid_client")
    await _token(gw, "dept.gxj", new)


async def test_a_disabled_client_gets_no_token(gw: Harness) -> None:
    async with gw.app.state.gateway.sessions() as session, session.begin():
        await clients.disable(session, "dept.tjj")
    assert gw.bare is not None
    r = await gw.bare.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("dept.tjj", gw.registry["dept.tjj"].secret),
    )
    assert_problem(r, 401, "invalid_client")


async def test_a_disabled_front_end_is_refused_once_its_cached_registration_expires(
    gw: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw.services.reply(CONFIRMATION, f"/enterprises/{A}/entitlements", ok({"items": []}))
    as_a = ClientAuth(gw.registry["qinqing"], enterprise=A)
    assert (await gw.client.get(f"/v1/enterprises/{A}/entitlements", auth=as_a)).status_code == 200
    async with gw.app.state.gateway.sessions() as session, session.begin():
        await clients.disable(session, "qinqing")

    # Within client_cache_seconds this process still answers from what it read …
    assert (await gw.client.get(f"/v1/enterprises/{A}/entitlements", auth=as_a)).status_code == 200
    later = time.monotonic() + gw.settings.client_cache_seconds + 1
    monkeypatch.setattr(bootstrap.time, "monotonic", lambda: later)
    # … and after it the still unexpired token is of no use without the front end.
    r = await gw.client.get(f"/v1/enterprises/{A}/entitlements", auth=as_a)
    assert_problem(r, 401, "invalid_token")
    assert "停用" in r.json()["detail"]


def test_production_refuses_authentication_off_and_the_development_registry() -> None:
    from pydantic import ValidationError

    from gateway.config import Settings

    base = {
        "environment": "production",
        "database_url": "postgresql+asyncpg://x/y",
        "rate_limit_redis_url": "redis://x",
    }
    secrets = {
        "gateway_signing_keys": "g1:" + "A" * 43 + "=",
        "internal_secret": "s" * 48,
        "audit_keys": "a1:" + "B" * 43 + "=",
    }
    assert Settings(**base, **secrets).environment == "production"  # type: ignore[arg-type]
    for extra in ({"auth_required": False}, {"bootstrap_clients_file": "config/clients/development.yaml"}):
        with pytest.raises(ValidationError):
            Settings(**base, **secrets, **extra)  # type: ignore[arg-type]
    for missing in secrets:
        with pytest.raises(ValidationError, match=f"MIANSHEN_{missing.upper()} must be set"):
            Settings(**base, **{k: v for k, v in secrets.items() if k != missing})  # type: ignore[arg-type]
