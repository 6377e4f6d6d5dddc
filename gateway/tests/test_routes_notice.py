"""公示 routes: anyone reads the notice and objects; operators decide, named in X-Actor.
Bodies are checked at the door; payment's refusals pass through unchanged."""

from __future__ import annotations

import json
import uuid

import pytest

from mianshen_shared import testing
from mianshen_shared.api import MAX_OFFSET

from .fakes import ok, problem
from .harness import Harness, assert_problem

pytestmark = pytest.mark.unit


PAYMENT = "http://127.0.0.1:8005"
PAYMENT_ID = uuid.uuid4()
OBJECTION_ID = uuid.uuid4()
REASON = "该企业实际经营地不在郑州，申报材料与事实不符"
OBJECTIONS_PATH = f"/notices/{PAYMENT_ID}/objections"
DECISION_PATH = f"/objections/{OBJECTION_ID}/decision"
ENTRY = {
    "payment_id": str(PAYMENT_ID),
    "batch": "zz-2022-02-specialized-sme-award-20261125",
    "policy_id": "zz-2022-02-specialized-sme-award",
    "policy_title": "郑州市专精特新中小企业奖励",
    "enterprise_name": "郑州示例科技有限公司",
    "uscc": testing.make_uscc(),
    "amount_fen": 150_000,
    "amount_text": "1,500.00元",
    "notice_starts_on": "2026-11-26",
    "notice_until": "2026-12-02",
    "open_for_objection": True,
}
OBJECTION = {
    "objection_id": str(OBJECTION_ID),
    "payment_id": str(PAYMENT_ID),
    "uscc": ENTRY["uscc"],
    "policy_id": ENTRY["policy_id"],
    "amount_fen": 150_000,
    "reason": REASON,
    "contact": None,
    "status": "upheld",
    "raised_at": "2026-11-25T02:00:00Z",
    "decided_by": "clerk.wang",
    "decided_at": "2026-11-25T04:00:00Z",
    "decision_reason": "经核实异议成立",
}


async def test_anyone_reads_the_notice_with_its_filters_passed_on(gw: Harness) -> None:
    gw.services.reply(PAYMENT, "/notices", ok({"items": [ENTRY], "total": 1, "limit": 20, "offset": 0}))
    r = await gw.client.get("/v1/notices", params={"policy_id": ENTRY["policy_id"], "limit": 20})
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["amount_text"] == "1,500.00元"
    (sent,) = gw.services.requests_to("/notices")
    assert (sent.url.params["policy_id"], sent.url.params["limit"]) == (ENTRY["policy_id"], "20")
    assert "batch" not in sent.url.params


@pytest.mark.parametrize("path", ["/v1/notices", "/v1/notices/batches", "/v1/operator/objections"])
@pytest.mark.parametrize("offset", [str(2**64), "-1", str(MAX_OFFSET + 1)])
async def test_an_offset_out_of_range_is_refused_before_any_service_is_asked(
    gw: Harness, path: str, offset: str
) -> None:
    r = await gw.client.get(path, params={"offset": offset})
    assert_problem(r, 422, "validation_failed")
    assert gw.services.requests_to("/notices") == gw.services.requests_to("/objections") == []


async def test_anyone_reads_the_batches(gw: Harness) -> None:
    gw.services.reply(PAYMENT, "/notices/batches", ok({"items": []}))
    r = await gw.client.get("/v1/notices/batches")
    assert (r.status_code, r.json()) == (200, {"items": []})


async def test_an_objection_is_forwarded_and_answered_with_its_receipt(gw: Harness) -> None:
    receipt = {"objection_id": str(OBJECTION_ID), "payment_id": str(PAYMENT_ID), "status": "open"}
    gw.services.reply(PAYMENT, OBJECTIONS_PATH, ok({**receipt, "raised_at": "2026-11-25T02:00:00Z"}, 201))
    r = await gw.client.post(f"/v1{OBJECTIONS_PATH}", json={"reason": REASON})
    assert r.status_code == 201, r.text
    (sent,) = gw.services.requests_to(OBJECTIONS_PATH)
    assert json.loads(sent.content) == {"reason": REASON, "contact": None}


async def test_a_closed_notice_refusal_reaches_the_objector_unchanged(gw: Harness) -> None:
    refusal = problem(409, "notice_closed", "该公示已结束，不再受理异议")
    gw.services.reply(PAYMENT, OBJECTIONS_PATH, refusal)
    r = await gw.client.post(f"/v1{OBJECTIONS_PATH}", json={"reason": REASON})
    assert r.status_code == 409
    assert r.content == refusal.content


@pytest.mark.parametrize(
    "body",
    [{"reason": "太短"}, {"reason": REASON, "contact": "1" * 101}, {"reason": REASON, "extra": 1}, {}],
)
async def test_a_bad_objection_is_refused_at_the_door(gw: Harness, body: dict) -> None:
    r = await gw.client.post(f"/v1{OBJECTIONS_PATH}", json=body)
    assert_problem(r, 422, "validation_failed")
    assert gw.services.requests_to(OBJECTIONS_PATH) == []


async def test_malformed_json_and_a_bad_payment_id_are_refused_at_the_door(gw: Harness) -> None:
    malformed = await gw.client.post(
        f"/v1{OBJECTIONS_PATH}", content=b"{reason", headers={"content-type": "application/json"}
    )
    assert_problem(malformed, 400, "malformed_json")
    assert_problem(
        await gw.client.post("/v1/notices/nope/objections", json={"reason": REASON}), 422, "validation_failed"
    )


async def test_a_decision_carries_the_operator_to_payment(gw: Harness) -> None:
    gw.services.reply(PAYMENT, DECISION_PATH, ok(OBJECTION))
    r = await gw.client.post(
        f"/v1/operator{DECISION_PATH}",
        json={"decision": "uphold", "reason": "经核实异议成立"},
        headers={"X-Actor": "approver.zhao"},
    )
    assert r.status_code == 200, r.text
    (sent,) = gw.services.requests_to(DECISION_PATH)
    assert sent.headers["X-Actor"] == "approver.zhao"
    assert json.loads(sent.content) == {"decision": "uphold", "reason": "经核实异议成立"}


async def test_a_decision_with_an_unknown_verdict_is_refused(gw: Harness) -> None:
    verdict = await gw.client.post(
        f"/v1/operator{DECISION_PATH}",
        json={"decision": "maybe", "reason": "成立"},
        headers={"X-Actor": "approver.zhao"},
    )
    assert_problem(verdict, 422, "validation_failed")
    assert gw.services.requests_to(DECISION_PATH) == []


async def test_without_credentials_a_decision_must_name_its_operator(gw_open: Harness) -> None:
    # Development gateways without authentication take the operator from X-Actor.
    r = await gw_open.client.post(f"/v1/operator{DECISION_PATH}", json={"decision": "uphold", "reason": "成立"})
    assert_problem(r, 422, "validation_failed")
    assert gw_open.services.requests_to(DECISION_PATH) == []


async def test_operators_list_objections_by_status(gw: Harness) -> None:
    gw.services.reply(PAYMENT, "/objections", ok({"items": [OBJECTION]}))
    r = await gw.client.get("/v1/operator/objections", params={"status": "open"})
    assert r.status_code == 200
    (sent,) = gw.services.requests_to("/objections")
    assert sent.url.params["status"] == "open"
    assert_problem(await gw.client.get("/v1/operator/objections", params={"status": "all"}), 422, "validation_failed")
