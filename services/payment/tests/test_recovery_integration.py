"""回头看 on the real Kafka and PostgreSQL: an overpayment, however often announced,
opens one case; two different operators decide it; a repayment is journalled once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from httpx import ASGITransport, AsyncClient

from mianshen_shared import testing
from mianshen_shared.db import transaction
from mianshen_shared.events import make_envelope
from mianshen_shared.events.catalog import EntitlementOverpaid
from mianshen_shared.topics import physical
from payment.config import Settings
from payment.main import create_app
from payment.models import LedgerEntry, Payment, RecoveryCase

pytestmark = pytest.mark.integration
YESTERDAY = (datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)).isoformat()
CLERK, CHIEF, CASHIER = {"X-Actor": "clerk.zhang"}, {"X-Actor": "chief.li"}, {"X-Actor": "cashier.wu"}


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[dict[str, Any]]:
    database = await testing.create_database("payment_recovery")
    prefix = testing.topic_prefix()
    settings = Settings(
        database_url=database, topic_prefix=prefix, kafka_bootstrap=testing.KAFKA_BOOTSTRAP, payment_poll_seconds=0.5
    )
    app = create_app(settings)
    try:
        async with (
            app.router.lifespan_context(app),
            AsyncClient(transport=ASGITransport(app=app), base_url="http://payment") as client,
        ):
            yield {"app": app, "prefix": prefix, "client": client}
    finally:
        await testing.drop_database(database)
        await testing.delete_topics(prefix)


async def _settled_payment(app: Any, *, amount_fen: int = 500_000) -> Payment:
    """A payment the finance system has settled (seeded: the worker is not under test here)."""
    now = datetime.now(UTC)
    entitlement_id = uuid.uuid4()
    payment = Payment(
        payment_id=uuid.uuid4(),
        entitlement_id=entitlement_id,
        assessment_id=uuid.uuid4(),
        confirmation_id=uuid.uuid4(),
        uscc=testing.make_uscc(),
        enterprise_name="郑州示例科技有限公司",
        policy_id="zz-2022-02-specialized-sme-award",
        policy_version=1,
        amount_fen=amount_fen,
        payer_budget_code="410100-HQZC-001",
        idempotency_key=f"mjx-{entitlement_id}",
        status="succeeded",
        attempts=1,
        consecutive_errors=0,
        hold_reasons=[],
        correlation_id="c-seed",
        issued_at=now,
        created_at=now,
        updated_at=now,
    )
    async with transaction(app.state.runtime.sessions) as session:
        session.add(payment)
    return payment


def _overpaid(
    payment: Payment, *, due_fen: int = 300_000, entitlement_id: uuid.UUID | None = None
) -> EntitlementOverpaid:
    return EntitlementOverpaid(
        uscc=payment.uscc,
        entitlement_id=entitlement_id or payment.entitlement_id,
        policy_id=payment.policy_id,
        policy_version=1,
        award_key="2022",
        paid_fen=payment.amount_fen,
        due_fen=due_fen,
        reason="市统计局更正了2022年营业收入，应得金额降为3,000.00元",
        detected_at=datetime.now(UTC),
    )


async def _announce(stack: dict[str, Any], event: EntitlementOverpaid, *, times: int = 1) -> None:
    envelope = make_envelope(event, source="test", subject=event.uscc, correlation_id="c-overpaid")
    for _ in range(times):
        await testing.produce(physical("entitlements", stack["prefix"]), envelope.to_bytes(), key=event.uscc)


async def _cases_of(app: Any, entitlement_id: uuid.UUID) -> list[RecoveryCase]:
    async with transaction(app.state.runtime.sessions) as session:
        rows = await session.scalars(sa.select(RecoveryCase).where(RecoveryCase.entitlement_id == entitlement_id))
        return list(rows)


async def _open_case(stack: dict[str, Any]) -> RecoveryCase:
    payment = await _settled_payment(stack["app"])
    await _announce(stack, _overpaid(payment))
    (case,) = await testing.wait_for(lambda: _cases_of(stack["app"], payment.entitlement_id), timeout=30)
    return case


async def test_an_overpayment_announced_twice_opens_one_case(stack) -> None:
    payment = await _settled_payment(stack["app"])
    await _announce(stack, _overpaid(payment), times=2)
    await _announce(stack, _overpaid(payment))  # the same news in a new envelope
    (case,) = await testing.wait_for(lambda: _cases_of(stack["app"], payment.entitlement_id), timeout=30)
    assert (case.status, case.overpaid_fen, case.payment_id) == ("open", 200_000, payment.payment_id)
    await asyncio.sleep(1.0)  # time for the repeats to arrive and (wrongly) open another
    assert len(await _cases_of(stack["app"], payment.entitlement_id)) == 1


async def test_an_overpayment_without_a_payment_goes_to_the_dead_letter_topic(stack) -> None:
    payment = Payment(uscc=testing.make_uscc(), policy_id="zz-2022-02-specialized-sme-award", amount_fen=500_000)
    stray = _overpaid(payment, entitlement_id=uuid.uuid4())
    await _announce(stack, stray)
    async with testing.TopicReader(physical("dead-letter", stack["prefix"])) as reader:
        letter = await reader.wait_for(lambda m: str(stray.entitlement_id) in m.value.decode(), timeout=30)
    headers = dict(letter.headers)
    assert headers["dlq.reason"] == b"payment_not_found"
    assert "支付记录" in headers["dlq.message"].decode()


async def test_two_operators_decide_and_a_repayment_is_journalled_once(stack) -> None:
    client: AsyncClient = stack["client"]
    case = await _open_case(stack)
    base = f"/recovery-cases/{case.case_id}"
    r = await client.post(f"{base}/proposal", json={"action": "recover", "reason": "核实多付"}, headers=CLERK)
    assert (r.status_code, r.json()["status"]) == (200, "proposed"), r.text
    own = await client.post(f"{base}/approval", json={"reason": "同意"}, headers=CLERK)
    assert (own.status_code, own.json()["code"]) == (403, "separation_of_duties")
    r = await client.post(f"{base}/approval", json={"reason": "同意追回"}, headers=CHIEF)
    assert (r.status_code, r.json()["status"]) == (200, "recovering"), r.text

    repayment = {"amount_fen": 200_000, "received_on": YESTERDAY, "reference": "BOC-20261124-01"}
    first = await client.post(f"{base}/repayments", json=repayment, headers=CASHIER)
    again = await client.post(f"{base}/repayments", json=repayment, headers=CASHIER)
    assert (first.status_code, again.status_code) == (200, 200), first.text
    detail = (await client.get(base)).json()
    assert (detail["status"], detail["recovered_fen"], len(detail["repayments"])) == ("recovered", 200_000, 1)
    assert [h["action"] for h in detail["history"]] == [
        "opened",
        "proposed_recover",
        "approved_recover",
        "repayment_recorded",
    ]
    assert [h["actor"] for h in detail["history"]][1:3] == ["clerk.zhang", "chief.li"]
    assert "营业收入" in detail["reason"]

    async with transaction(stack["app"].state.runtime.sessions) as session:
        journals = (
            await session.execute(
                sa.select(LedgerEntry.kind, LedgerEntry.account, LedgerEntry.debit_fen, LedgerEntry.credit_fen)
                .where(LedgerEntry.payment_id == case.payment_id)
                .order_by(LedgerEntry.id)
            )
        ).all()
    receivable = f"receivable:{case.uscc}"
    assert [(k, a, d, c) for k, a, d, c in journals if a == receivable] == [
        ("recovery_due", receivable, 200_000, 0),
        ("recovery_received", receivable, 0, 200_000),
    ]


async def test_a_rejected_proposal_reopens_the_case_and_listings_filter_by_status(stack) -> None:
    client: AsyncClient = stack["client"]
    case = await _open_case(stack)
    base = f"/recovery-cases/{case.case_id}"
    await client.post(f"{base}/proposal", json={"action": "waive", "reason": "金额较小"}, headers=CLERK)
    r = await client.post(f"{base}/rejection", json={"reason": "应当追回"}, headers=CHIEF)
    assert (r.status_code, r.json()["status"]) == (200, "open")
    open_ids = {c["case_id"] for c in (await client.get("/recovery-cases", params={"status": "open"})).json()["items"]}
    assert str(case.case_id) in open_ids
    waived = (await client.get("/recovery-cases", params={"status": "waived"})).json()["items"]
    assert str(case.case_id) not in {c["case_id"] for c in waived}


async def test_the_enterprise_sees_its_own_cases_in_chinese_without_operator_names(stack) -> None:
    client: AsyncClient = stack["client"]
    case = await _open_case(stack)
    (mine,) = (await client.get(f"/enterprises/{case.uscc}/recovery-cases")).json()["items"]
    assert (mine["case_id"], mine["status_text"]) == (str(case.case_id), "经复核发现多付，待处理")
    assert "proposed_by" not in mine and "history" not in mine
    assert (await client.get(f"/enterprises/{testing.make_uscc()}/recovery-cases")).json()["items"] == []


@pytest.mark.parametrize(
    ("step", "body", "field"),
    [
        ("proposal", {"action": "forgive", "reason": "x"}, "action"),
        ("proposal", {"action": "recover"}, "reason"),
        ("approval", {"reason": "同意", "by": "chief"}, "by"),
        ("rejection", {"reason": ""}, "reason"),
        ("repayments", {"amount_fen": 0, "received_on": YESTERDAY, "reference": "BOC-1"}, "amount_fen"),
        ("repayments", {"amount_fen": 1.5, "received_on": YESTERDAY, "reference": "BOC-1"}, "amount_fen"),
        ("repayments", {"amount_fen": 100, "received_on": "上周", "reference": "BOC-1"}, "received_on"),
        ("repayments", {"amount_fen": 100, "received_on": YESTERDAY}, "reference"),
    ],
    ids=[
        "unknown-action",
        "missing-reason",
        "unknown-field",
        "empty-reason",
        "zero-amount",
        "fractional-fen",
        "not-a-date",
        "missing-reference",
    ],
)
async def test_bad_case_steps_are_refused(stack, step: str, body: dict[str, Any], field: str) -> None:
    r = await stack["client"].post(f"/recovery-cases/{uuid.uuid4()}/{step}", json=body, headers=CLERK)
    assert r.status_code == 422
    assert any(e["field"] == field for e in r.json()["errors"]), r.json()


async def test_steps_without_an_actor_on_unknown_cases_or_out_of_turn_are_refused(stack) -> None:
    client: AsyncClient = stack["client"]
    case = await _open_case(stack)
    base = f"/recovery-cases/{case.case_id}"
    no_actor = await client.post(f"{base}/proposal", json={"action": "recover", "reason": "x"})
    assert (no_actor.status_code, no_actor.json()["code"]) == (400, "actor_required")
    bad_actor = await client.post(
        f"{base}/proposal", json={"action": "recover", "reason": "x"}, headers={"X-Actor": "a b"}
    )
    assert (bad_actor.status_code, bad_actor.json()["code"]) == (400, "actor_invalid")
    early = await client.post(f"{base}/approval", json={"reason": "同意"}, headers=CHIEF)
    assert (early.status_code, early.json()["code"]) == (409, "case_not_proposed")
    unpaid = await client.post(
        f"{base}/repayments", json={"amount_fen": 100, "received_on": YESTERDAY, "reference": "BOC-2"}, headers=CASHIER
    )
    assert (unpaid.status_code, unpaid.json()["code"]) == (409, "case_not_recovering")
    missing = await client.get(f"/recovery-cases/{uuid.uuid4()}")
    assert (missing.status_code, missing.json()["code"]) == (404, "recovery_case_not_found")
    malformed = await client.post(
        f"{base}/proposal", content=b"{", headers={**CLERK, "content-type": "application/json"}
    )
    assert (malformed.status_code, malformed.json()["code"]) == (400, "malformed_json")
    assert (await client.get("/recovery-cases", params={"status": "closed"})).status_code == 422
    assert (await client.get("/recovery-cases/not-a-uuid")).status_code == 422
    assert (await client.get("/enterprises/91410105MA00000000/recovery-cases")).json()["code"] == "invalid_uscc"
