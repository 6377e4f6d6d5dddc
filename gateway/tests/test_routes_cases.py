"""减免指令 and 回头看 routes: forwarded to payment with the department's path and the
operator's identity; bodies checked at the door, payment's refusals passed on unchanged."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from mianshen_shared import testing

from .fakes import ok, problem
from .harness import Harness, assert_problem

pytestmark = pytest.mark.unit


PAYMENT = "http://127.0.0.1:8005"
INSTRUCTION = uuid.uuid4()
CASE = uuid.uuid4()
ACK = {"reference": "GZW-2026-0091", "executed_on": "2026-11-20", "amount_fen": 2_700_000}
ACK_PATH = f"/departments/gzw/instructions/{INSTRUCTION}/acknowledgement"
INSTRUCTION_READ = {
    "instruction_id": str(INSTRUCTION),
    "entitlement_id": str(uuid.uuid4()),
    "uscc": testing.make_uscc(),
    "policy_id": "zz-2022-25-state-owned-premises-rent-relief",
    "amount_fen": 2_700_000,
    "executing_department": "gzw",
    "status": "acknowledged",
    "status_text": "已办理减免",
}


async def test_an_acknowledgement_is_forwarded_under_the_departments_path(gw: Harness) -> None:
    gw.services.reply(PAYMENT, ACK_PATH, ok(INSTRUCTION_READ))
    r = await gw.client.post(f"/v1{ACK_PATH}", json=ACK)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "acknowledged"
    (sent,) = gw.services.requests_to(ACK_PATH)
    assert json.loads(sent.content) == {**ACK, "note": None}


async def test_the_amount_mismatch_from_payment_reaches_the_department_unchanged(gw: Harness) -> None:
    refusal = problem(422, "amount_mismatch", "回执的减免金额（26,000.00元）与指令金额（27,000.00元）不一致")
    gw.services.reply(PAYMENT, ACK_PATH, refusal)
    r = await gw.client.post(f"/v1{ACK_PATH}", json={**ACK, "amount_fen": 2_600_000})
    assert r.status_code == 422
    assert r.content == refusal.content


async def test_the_department_reads_its_issued_instructions(gw: Harness) -> None:
    gw.services.reply(PAYMENT, "/departments/gzw/instructions", ok({"items": [INSTRUCTION_READ]}))
    r = await gw.client.get("/v1/departments/gzw/instructions", params={"status": "issued"})
    assert r.status_code == 200
    (sent,) = gw.services.requests_to("/departments/gzw/instructions")
    assert sent.url.params["status"] == "issued"


async def test_a_case_decision_carries_the_operator_to_payment(gw: Harness) -> None:
    path = f"/recovery-cases/{CASE}/approval"
    gw.services.reply(PAYMENT, path, problem(403, "separation_of_duties", "提出处理意见的人员不能审核自己的意见"))
    r = await gw.client.post(f"/v1/operator{path}", json={"reason": "同意"}, headers={"X-Actor": "approver.zhao"})
    assert r.status_code == 403
    (sent,) = gw.services.requests_to(path)
    assert sent.headers["x-actor"] == "approver.zhao"


async def test_the_enterprise_reads_its_recovery_cases(gw: Harness) -> None:
    uscc = testing.make_uscc()
    path = f"/enterprises/{uscc}/recovery-cases"
    gw.services.reply(PAYMENT, path, ok({"items": []}))
    r = await gw.client.get(f"/v1{path}")
    assert (r.status_code, r.json()) == (200, {"items": []})


@pytest.mark.parametrize(
    ("path", "body", "headers", "field"),
    [
        (f"/v1{ACK_PATH}", {**ACK, "verified": True}, {}, "verified"),
        (f"/v1{ACK_PATH}", {k: v for k, v in ACK.items() if k != "amount_fen"}, {}, "amount_fen"),
        (f"/v1{ACK_PATH}", {**ACK, "executed_on": "上周"}, {}, "executed_on"),
        (f"/v1/departments/gzw/instructions/{INSTRUCTION}/refusal", {"reason": ""}, {}, "reason"),
        (
            f"/v1/operator/recovery-cases/{CASE}/proposal",
            {"action": "forgive", "reason": "x"},
            {"X-Actor": "approver.zhao"},
            "action",
        ),
        (
            f"/v1/operator/recovery-cases/{CASE}/repayments",
            {"amount_fen": 0, "received_on": "2026-11-20", "reference": "BOC-1"},
            {"X-Actor": "cashier.wu"},
            "amount_fen",
        ),
    ],
    ids=[
        "unknown-field",
        "missing-amount",
        "not-a-date",
        "empty-reason",
        "unknown-action",
        "zero-repayment",
    ],
)
async def test_bad_requests_are_refused_at_the_door(
    gw: Harness, path: str, body: dict[str, Any], headers: dict[str, str], field: str
) -> None:
    problem_body = assert_problem(await gw.client.post(path, json=body, headers=headers), 422, "validation_failed")
    assert any(e["field"] == field for e in problem_body["errors"]), problem_body["errors"]
    assert gw.services.requests == []


async def test_malformed_paths_and_json_are_refused_at_the_door(gw: Harness) -> None:
    malformed = await gw.client.post(f"/v1{ACK_PATH}", content=b"{", headers={"content-type": "application/json"})
    assert_problem(malformed, 400, "malformed_json")
    assert_problem(await gw.client.get("/v1/enterprises/91410105MA00000000/recovery-cases"), 422, "invalid_uscc")
    assert_problem(await gw.client.get("/v1/operator/recovery-cases", params={"status": "x"}), 422, "validation_failed")
    assert gw.services.requests == []


async def test_without_credentials_a_proposal_must_name_its_operator(gw_open: Harness) -> None:
    # Development gateways without authentication take the operator from X-Actor.
    r = await gw_open.client.post(
        f"/v1/operator/recovery-cases/{CASE}/proposal", json={"action": "recover", "reason": "x"}
    )
    problem_body = assert_problem(r, 422, "validation_failed")
    assert any(e["field"] == "header.X-Actor" for e in problem_body["errors"]), problem_body["errors"]
    assert gw_open.services.requests == []


async def test_without_credentials_a_malformed_department_in_the_path_is_refused(gw_open: Harness) -> None:
    # Authenticated, no department matches such a path and the guard refuses it first.
    assert_problem(await gw_open.client.get("/v1/departments/GZW!/instructions"), 422, "validation_failed")
    assert gw_open.services.requests == []
