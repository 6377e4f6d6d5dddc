"""Enterprise and policy routes: checked at the door, then forwarded to the service
that owns the answer, whose status and problem details come back unchanged."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from mianshen_shared import testing

from .factories import bank_account, with_wrong_check_digit
from .fakes import ok, problem
from .harness import Harness, assert_problem

pytestmark = pytest.mark.unit
USCC = testing.make_uscc()
ENTITLEMENT = uuid.uuid4()
CONFIRMATION = uuid.uuid4()

CONFIRMATION_SVC = "http://127.0.0.1:8003"
READS = [
    (f"/v1/enterprises/{USCC}/entitlements", CONFIRMATION_SVC, f"/enterprises/{USCC}/entitlements"),
    (
        f"/v1/enterprises/{USCC}/entitlements/{ENTITLEMENT}",
        CONFIRMATION_SVC,
        f"/enterprises/{USCC}/entitlements/{ENTITLEMENT}",
    ),
    (f"/v1/enterprises/{USCC}/confirmations", CONFIRMATION_SVC, f"/enterprises/{USCC}/confirmations"),
    (f"/v1/enterprises/{USCC}/payments", "http://127.0.0.1:8005", f"/enterprises/{USCC}/payments"),
    (f"/v1/enterprises/{USCC}/determinations", "http://127.0.0.1:8002", f"/enterprises/{USCC}/entitlements"),
    (
        f"/v1/enterprises/{USCC}/eligibility-summary",
        "http://127.0.0.1:8002",
        f"/enterprises/{USCC}/eligibility-summary",
    ),
    (f"/v1/enterprises/{USCC}/credit", "http://127.0.0.1:8004", f"/enterprises/{USCC}/credit"),
    ("/v1/policies", "http://127.0.0.1:8001", "/policies"),
    (
        "/v1/policies/zz-2022-02-specialized-sme-award",
        "http://127.0.0.1:8001",
        "/policies/zz-2022-02-specialized-sme-award",
    ),
]
ACCEPT = f"/v1/enterprises/{USCC}/confirmations/{CONFIRMATION}/accept"
DECLINE = f"/v1/enterprises/{USCC}/confirmations/{CONFIRMATION}/decline"
UPSTREAM_ACCEPT = f"/enterprises/{USCC}/confirmations/{CONFIRMATION}/accept"
UPSTREAM_DECLINE = f"/enterprises/{USCC}/confirmations/{CONFIRMATION}/decline"


def confirmation(status: str) -> dict[str, Any]:
    return {
        "confirmation_id": str(CONFIRMATION),
        "entitlement_id": str(ENTITLEMENT),
        "uscc": USCC,
        "amount_fen": 200_000_000,
        "status": status,
    }


@pytest.mark.parametrize(("path", "service", "upstream_path"), READS, ids=[r[2] for r in READS])
async def test_a_read_is_answered_by_the_owning_service(
    gw: Harness, path: str, service: str, upstream_path: str
) -> None:
    answer = {"items": [], "marker": path}
    gw.services.reply(service, upstream_path, ok(answer))
    r = await gw.client.get(path, headers={"X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"})

    assert r.status_code == 200, r.text
    assert r.json() == answer
    (sent,) = gw.services.requests_to(upstream_path)
    assert sent.url.netloc.decode() == httpx.URL(service).netloc.decode()
    assert (sent.headers["x-request-id"], sent.headers["x-correlation-id"]) == ("req-1", "corr-1")


async def test_the_confirmation_filter_is_passed_on(gw: Harness) -> None:
    gw.services.reply(CONFIRMATION_SVC, f"/enterprises/{USCC}/confirmations", ok({"items": []}))
    await gw.client.get(f"/v1/enterprises/{USCC}/confirmations", params={"status": "pending"})
    (sent,) = gw.services.requests_to(f"/enterprises/{USCC}/confirmations")
    assert sent.url.params["status"] == "pending"


async def test_an_unlisted_confirmation_filter_is_refused(gw: Harness) -> None:
    r = await gw.client.get(f"/v1/enterprises/{USCC}/confirmations", params={"status": "Pending'--"})
    assert_problem(r, 422, "validation_failed")
    assert gw.services.requests == []


async def test_another_enterprises_entitlement_comes_back_as_the_services_404(gw: Harness) -> None:
    upstream = problem(404, "entitlement_not_found", "该企业没有这项待遇")
    gw.services.reply(CONFIRMATION_SVC, f"/enterprises/{USCC}/entitlements/{ENTITLEMENT}", upstream)
    r = await gw.client.get(f"/v1/enterprises/{USCC}/entitlements/{ENTITLEMENT}")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.content == upstream.content


async def test_accepting_forwards_the_checked_body_and_the_answer(gw: Harness) -> None:
    gw.services.reply(CONFIRMATION_SVC, UPSTREAM_ACCEPT, ok(confirmation("accepted")))
    r = await gw.client.post(ACCEPT, json={"bank_account": bank_account(account_name="  郑州示例科技有限公司 ")})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted"
    (sent,) = gw.services.requests_to(UPSTREAM_ACCEPT)
    assert sent.method == "POST"
    assert json.loads(sent.content) == {"bank_account": bank_account()}


async def test_declining_forwards_the_reason(gw: Harness) -> None:
    gw.services.reply(CONFIRMATION_SVC, UPSTREAM_DECLINE, ok(confirmation("declined")))
    r = await gw.client.post(DECLINE, json={"reason": "企业已申请同类资金"})
    assert r.status_code == 200, r.text
    assert json.loads(gw.services.requests_to(UPSTREAM_DECLINE)[0].content) == {"reason": "企业已申请同类资金"}


async def test_answering_twice_comes_back_as_the_services_409(gw: Harness) -> None:
    upstream = problem(409, "already_answered", "该意愿确认已答复")
    gw.services.reply(CONFIRMATION_SVC, UPSTREAM_DECLINE, upstream)
    r = await gw.client.post(DECLINE, json={"reason": "不需要"})
    assert r.status_code == 409
    assert r.json()["code"] == "already_answered"
    assert r.content == upstream.content


@pytest.mark.parametrize(
    ("path", "body", "field", "code"),
    [
        (ACCEPT, {"bank_account": bank_account(), "reuse_account_id": str(uuid.uuid4())}, "<body>", "value_error"),
        (ACCEPT, {"bank_account": bank_account(), "note": "x"}, "note", "extra_forbidden"),
        (ACCEPT, {"bank_account": bank_account(swift="ICBKCNBJ")}, "bank_account.swift", "extra_forbidden"),
        (
            ACCEPT,
            {"bank_account": bank_account(account_number="6222-0202")},
            "bank_account.account_number",
            "string_pattern_mismatch",
        ),
        (ACCEPT, {"bank_account": bank_account(account_name="  ")}, "bank_account.account_name", "string_too_short"),
        (DECLINE, {"reason": ""}, "reason", "string_too_short"),
        (DECLINE, {"reason": "长" * 501}, "reason", "string_too_long"),
        (DECLINE, {"reason": "x", "uscc": USCC}, "uscc", "extra_forbidden"),
    ],
    ids=[
        "two-accounts",
        "unknown-field",
        "unknown-account-field",
        "account-number-not-digits",
        "blank-account-name",
        "empty-reason",
        "long-reason",
        "decline-unknown-field",
    ],
)
async def test_an_invalid_answer_is_refused_at_the_door(
    gw: Harness, path: str, body: dict[str, Any], field: str, code: str
) -> None:
    problem_body = assert_problem(await gw.client.post(path, json=body), 422, "validation_failed")
    assert (field, code) in [(e["field"], e["code"]) for e in problem_body["errors"]]
    assert gw.services.requests == []


async def test_a_malformed_answer_is_a_bad_request(gw: Harness) -> None:
    r = await gw.client.post(ACCEPT, content=b'{"bank_account": ', headers={"content-type": "application/json"})
    assert_problem(r, 400, "malformed_json")
    assert gw.services.requests == []


async def test_an_answer_that_is_not_json_is_unsupported(gw: Harness) -> None:
    r = await gw.client.post(
        DECLINE, content=b"reason=x", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert_problem(r, 415, "unsupported_media_type")
    assert gw.services.requests == []


async def test_an_oversized_answer_is_refused(gw: Harness) -> None:
    r = await gw.client.post(DECLINE, json={"reason": "x" * (2 * 1024 * 1024)})
    assert_problem(r, 413, "payload_too_large")
    assert gw.services.requests == []


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (with_wrong_check_digit(USCC), "uscc_check_digit"),
        (USCC[:17], "uscc_length"),
        (USCC.lower(), "uscc_charset"),
    ],
)
@pytest.mark.parametrize("route", ["/v1/enterprises/{}/entitlements", "/v1/enterprises/{}/credit"])
async def test_a_wrong_uscc_is_refused_with_the_broken_rule(gw: Harness, route: str, code: str, reason: str) -> None:
    body = assert_problem(await gw.client.get(route.format(code)), 422, "invalid_uscc")
    assert body["detail"].startswith("统一社会信用代码")
    assert body["errors"] == [{"field": "uscc", "code": reason, "message": body["detail"]}]
    assert gw.services.requests == []


async def test_a_wrong_uscc_is_refused_before_an_answer_is_forwarded(gw: Harness) -> None:
    path = f"/v1/enterprises/{with_wrong_check_digit(USCC)}/confirmations/{CONFIRMATION}/accept"
    assert_problem(await gw.client.post(path, json={"bank_account": bank_account()}), 422, "invalid_uscc")
    assert gw.services.requests == []


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/enterprises/{USCC}/entitlements/not-a-uuid",
        f"/v1/enterprises/{USCC}/confirmations/42/decline",
        "/v1/policies/..hidden",
    ],
)
async def test_a_malformed_identifier_is_refused(gw: Harness, path: str) -> None:
    send = gw.client.post(path, json={"reason": "x"}) if path.endswith("decline") else gw.client.get(path)
    assert_problem(await send, 422, "validation_failed")
    assert gw.services.requests == []


async def test_a_service_that_is_down_is_a_bad_gateway_after_one_retry(gw: Harness) -> None:
    gw.services.reply(CONFIRMATION_SVC, f"/enterprises/{USCC}/entitlements", httpx.ConnectError("refused"))
    body = assert_problem(await gw.client.get(f"/v1/enterprises/{USCC}/entitlements"), 502, "upstream_unavailable")
    assert "意愿确认服务" in body["detail"]
    assert len(gw.services.requests_to(f"/enterprises/{USCC}/entitlements")) == 2


async def test_a_read_that_fails_once_succeeds_on_the_retry(gw: Harness) -> None:
    path = f"/enterprises/{USCC}/payments"
    gw.services.reply("http://127.0.0.1:8005", path, httpx.ReadError("reset"), ok({"items": []}))
    r = await gw.client.get(f"/v1/enterprises/{USCC}/payments")
    assert r.status_code == 200
    assert len(gw.services.requests_to(path)) == 2


async def test_an_answer_is_never_sent_twice(gw: Harness) -> None:
    gw.services.reply(CONFIRMATION_SVC, UPSTREAM_ACCEPT, httpx.ReadError("reset"), ok(confirmation("accepted")))
    assert_problem(await gw.client.post(ACCEPT, json={"bank_account": bank_account()}), 502, "upstream_unavailable")
    assert len(gw.services.requests_to(UPSTREAM_ACCEPT)) == 1


async def test_a_service_that_does_not_answer_in_time_is_a_gateway_timeout(gw: Harness) -> None:
    gw.services.reply("http://127.0.0.1:8001", "/policies", httpx.ReadTimeout("slow"))
    body = assert_problem(await gw.client.get("/v1/policies"), 504, "upstream_timeout")
    assert body["upstream"] == "policy-catalog"


async def test_a_service_crash_without_problem_details_is_a_bad_gateway(gw: Harness) -> None:
    gw.services.reply(
        "http://127.0.0.1:8004",
        f"/enterprises/{USCC}/credit",
        httpx.Response(500, text="<html>Internal Server Error</html>"),
    )
    body = assert_problem(await gw.client.get(f"/v1/enterprises/{USCC}/credit"), 502, "upstream_error")
    assert body["upstream_status"] == 500
