"""The credit decisions on one entitlement through the gateway: checked at the door,
forwarded to credit-check, its answer (and its 404 for another enterprise's
entitlement) passed back unchanged."""

from __future__ import annotations

import uuid

import pytest

from mianshen_shared import testing

from .factories import with_wrong_check_digit
from .fakes import ok, problem
from .harness import Harness, assert_problem

pytestmark = pytest.mark.unit
CREDIT_SVC = "http://127.0.0.1:8004"
USCC = testing.make_uscc()
ENTITLEMENT = uuid.uuid4()
ANSWER = {"entitlement_id": str(ENTITLEMENT), "decision": "held", "assessments": []}


@pytest.mark.parametrize(
    ("path", "upstream_path"),
    [
        (
            f"/v1/enterprises/{USCC}/entitlements/{ENTITLEMENT}/credit-assessments",
            f"/enterprises/{USCC}/entitlements/{ENTITLEMENT}/credit-assessments",
        ),
        (
            f"/v1/operator/entitlements/{ENTITLEMENT}/credit-assessments",
            f"/entitlements/{ENTITLEMENT}/credit-assessments",
        ),
    ],
    ids=["enterprise", "operator"],
)
async def test_an_entitlement_s_credit_decisions_are_answered_by_credit_check(
    gw: Harness, path: str, upstream_path: str
) -> None:
    gw.services.reply(CREDIT_SVC, upstream_path, ok(ANSWER))
    r = await gw.client.get(path, headers={"X-Request-ID": "req-1"})
    assert (r.status_code, r.json()) == (200, ANSWER)
    (sent,) = gw.services.requests_to(upstream_path)
    assert sent.headers["x-request-id"] == "req-1"


async def test_another_enterprise_s_entitlement_comes_back_as_credit_check_s_404(gw: Harness) -> None:
    upstream_path = f"/enterprises/{USCC}/entitlements/{ENTITLEMENT}/credit-assessments"
    upstream = problem(404, "assessment_not_found", "未找到该待遇的信用核查记录")
    gw.services.reply(CREDIT_SVC, upstream_path, upstream)
    r = await gw.client.get(f"/v1{upstream_path}")
    assert r.status_code == 404
    assert r.content == upstream.content


@pytest.mark.parametrize(
    ("path", "code"),
    [
        (
            f"/v1/enterprises/{with_wrong_check_digit(USCC)}/entitlements/{ENTITLEMENT}/credit-assessments",
            "invalid_uscc",
        ),
        (f"/v1/enterprises/{USCC}/entitlements/not-a-uuid/credit-assessments", "validation_failed"),
        ("/v1/operator/entitlements/not-a-uuid/credit-assessments", "validation_failed"),
    ],
)
async def test_malformed_codes_and_ids_are_refused_at_the_door(gw: Harness, path: str, code: str) -> None:
    assert_problem(await gw.client.get(path), 422, code)
    assert gw.services.requests == []


def test_the_credit_routes_are_in_the_published_api(gw: Harness) -> None:
    paths = gw.app.openapi()["paths"]
    assert "/v1/enterprises/{uscc}/entitlements/{entitlement_id}/credit-assessments" in paths
    assert "/v1/operator/entitlements/{entitlement_id}/credit-assessments" in paths
