"""Unit tests of the payment state machine against an in-memory finance system:
whatever goes wrong, the money moves once or not at all, and we say which."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from mianshen_shared.events.catalog import CreditAssessed, PaymentFailed, PaymentIssued, PaymentProgressed
from mianshen_shared.messaging import Rejected
from payment import service, terms
from payment.models import Payment

from .factories import assessed
from .fakes import Emitted, FakeFinance
from .notice_support import FakeNoticeRepository, published

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 25, 8, tzinfo=UTC)
POLICY = service.RetryPolicy(max_attempts=4, base_seconds=1, max_seconds=8, lease_seconds=30)
BUDGET = "410100-HQZC-001"


class Harness:
    """Drives the worker's claim → call → record loop on a fake clock."""

    def __init__(self, finance: FakeFinance | None = None) -> None:
        self.repo = FakeNoticeRepository()
        self.finance = finance or FakeFinance()
        self.emitted = Emitted()
        self.now = NOW

    async def accept(self, event: CreditAssessed) -> Payment:
        # These tests are about the retry machine, so the policy asks for no 公示:
        # a cleared payment is due at once.
        if await self.repo.terms(event.policy_id, event.policy_version) is None:
            await terms.record_published(
                self.repo,
                published=published(
                    policy_id=event.policy_id, version=event.policy_version, procedure={"notice_working_days": 0}
                ),
            )
        payment = await service.record_assessment(
            self.repo, assessed=event, correlation_id="c-1", now=self.now, emit=self.emitted
        )
        assert payment is not None
        return payment

    async def step(self) -> list[service.Step]:
        steps = await service.claim(self.repo, now=self.now, limit=10, policy=POLICY, payer_budget_code=BUDGET)
        for step in steps:
            result = await service.perform(self.finance, step)
            await service.record_outcome(self.repo, step, result, policy=POLICY, now=self.now, emit=self.emitted)
        return steps

    async def run(self, max_steps: int = 50) -> None:
        for _ in range(max_steps):
            if await self.step():
                continue
            due = [
                p.next_attempt_at
                for p in self.repo.payments.values()
                if p.status in ("pending", "unknown", "submitted") and p.next_attempt_at
            ]
            if not due:
                return
            self.now = max(self.now, min(due))
        raise AssertionError("the payment never settled down")

    def issued(self) -> list[PaymentIssued]:
        return self.emitted.of_type(PaymentIssued)

    def failed(self) -> list[PaymentFailed]:
        return self.emitted.of_type(PaymentFailed)

    def stages(self) -> list[str]:
        return [e.stage for e in self.emitted.of_type(PaymentProgressed)]


async def test_a_cleared_assessment_becomes_a_pending_payment_with_a_key_fixed_up_front() -> None:
    h = Harness()
    event = assessed()
    payment = await h.accept(event)
    assert payment.status == "pending"
    assert payment.idempotency_key == f"mjx-{event.entitlement_id}"
    assert payment.amount_fen == event.amount_fen
    assert event.bank_account is not None
    assert payment.payee_account_sealed == event.bank_account.account_number_sealed
    assert payment.payee_account_masked == event.bank_account.account_number_masked


async def test_the_same_assessment_twice_leaves_one_payment() -> None:
    h = Harness()
    event = assessed()
    first = await h.accept(event)
    again = await h.accept(event)
    assert again is first
    assert len(h.repo.payments) == 1


async def test_a_held_assessment_is_recorded_with_its_reasons_and_never_submitted() -> None:
    h = Harness()
    payment = await h.accept(assessed(decision="held"))
    await h.run()
    assert payment.status == "held"
    assert payment.hold_reasons[0]["record_id"] == "credit-77"
    assert "失信" in (payment.failure_reason or "")
    assert h.finance.submissions == []
    assert (h.issued(), h.failed()) == ([], [])
    assert h.stages() == ["credit_held"], "a hold is announced as a stage, never as a payment outcome"


async def test_a_cleared_assessment_of_zero_fen_is_rejected() -> None:
    with pytest.raises(Rejected) as err:
        await Harness().accept(assessed(amount_fen=0))
    assert err.value.reason == "zero_amount"


async def test_a_held_payment_is_released_when_a_later_assessment_clears_it() -> None:
    h = Harness()
    held = assessed(decision="held")
    payment = await h.accept(held)
    await h.accept(held.model_copy(update={"decision": "cleared", "reasons": []}))
    assert payment.status == "held", "the same assessment redelivered must not release the hold"
    await h.accept(assessed(held.uscc, entitlement_id=held.entitlement_id))
    await h.run()
    assert payment.status == "succeeded"
    assert len(h.finance.settled) == 1


async def test_a_settled_submission_succeeds_and_emits_payment_issued_once() -> None:
    h = Harness()
    payment = await h.accept(assessed(amount_fen=123_456))
    await h.run()
    assert payment.status == "succeeded"
    assert payment.finance_reference == "CZ00000001"
    [issued] = h.issued()
    assert (issued.amount_fen, issued.finance_reference, issued.idempotency_key) == (
        123_456,
        "CZ00000001",
        payment.idempotency_key,
    )
    assert [(k, c) for e, k, c in h.emitted.events if isinstance(e, PaymentIssued)] == [(payment.uscc, "c-1")]
    assert h.finance.submissions[0].payer_budget_code == BUDGET


async def test_an_outage_is_retried_with_the_same_key_after_a_growing_backoff() -> None:
    h = Harness(FakeFinance().then("fail", "fail"))
    payment = await h.accept(assessed())
    await h.step()
    assert (payment.status, payment.next_attempt_at) == ("pending", NOW + timedelta(seconds=1))
    assert await h.step() == [], "claimed again before its backoff ran out"
    await h.run()
    assert payment.status == "succeeded"
    assert payment.attempts == 3
    assert {s.idempotency_key for s in h.finance.submissions} == {payment.idempotency_key}
    assert h.now == NOW + timedelta(seconds=1 + 2)
    assert len(h.finance.settled) == 1
    assert len(h.issued()) == 1


async def test_a_business_rejection_fails_the_payment_with_the_finance_code() -> None:
    h = Harness(FakeFinance().then("reject"))
    payment = await h.accept(assessed())
    await h.run()
    assert payment.status == "failed"
    assert payment.failure_code == "account_invalid"
    [failed] = h.failed()
    assert failed.reason_code == "account_invalid"
    assert "收款账户无效" in failed.reason
    assert h.finance.settled == {}


async def test_a_timed_out_submission_is_resolved_by_query_and_resubmitted_with_the_same_key() -> None:
    h = Harness(FakeFinance().then("timeout"))
    payment = await h.accept(assessed())
    await h.step()
    assert payment.status == "unknown"
    await h.run()
    h.finance.land_late()
    assert payment.status == "succeeded"
    assert h.finance.queries == [payment.idempotency_key]
    assert [s.idempotency_key for s in h.finance.submissions] == [payment.idempotency_key] * 2
    assert len(h.finance.settled) == 1
    assert len(h.issued()) == 1


async def test_a_lost_answer_after_settlement_is_found_by_query_without_resubmitting() -> None:
    h = Harness(FakeFinance().then("drop"))
    payment = await h.accept(assessed())
    await h.run()
    assert payment.status == "succeeded"
    assert len(h.finance.submissions) == 1
    assert h.finance.queries == [payment.idempotency_key]
    assert payment.finance_reference == h.finance.references[payment.idempotency_key]
    assert len(h.issued()) == 1


async def test_a_server_error_is_treated_as_ambiguous_and_checked_before_resubmitting() -> None:
    h = Harness(FakeFinance().then("error"))
    payment = await h.accept(assessed())
    await h.run()
    assert payment.status == "succeeded"
    assert len(h.finance.queries) == 1
    assert len(h.finance.submissions) == 2


async def test_an_outage_that_never_ends_fails_the_payment_after_the_last_attempt_and_a_final_check() -> None:
    h = Harness(FakeFinance().then(*["fail"] * POLICY.max_attempts))
    payment = await h.accept(assessed())
    await h.run()
    assert payment.status == "failed"
    assert payment.failure_code == "finance_unavailable"
    assert len(h.finance.submissions) == POLICY.max_attempts
    assert h.finance.queries == [payment.idempotency_key]
    [failed] = h.failed()
    assert failed.reason_code == "finance_unavailable"
    assert "HTTP 503" in failed.reason


async def test_an_earlier_submission_that_landed_late_wins_over_giving_up() -> None:
    h = Harness(FakeFinance().then("timeout", *["fail"] * (POLICY.max_attempts - 1)))
    payment = await h.accept(assessed())
    for _ in range(20):
        if payment.attempts == POLICY.max_attempts and payment.status == "unknown":
            break
        await h.step()
        h.now += timedelta(seconds=POLICY.max_seconds)
    h.finance.land_late()
    await h.run()
    assert payment.status == "succeeded"
    assert h.failed() == []
    assert len(h.finance.settled) == 1


async def test_an_unanswered_query_keeps_the_payment_unknown_and_never_fails_it() -> None:
    finance = FakeFinance().then("timeout")
    finance.query_script.extend(["error"] * 6)
    h = Harness(finance)
    payment = await h.accept(assessed())
    for _ in range(7):
        await h.step()
        h.now += timedelta(seconds=POLICY.max_seconds)
    assert payment.status == "unknown"
    assert (h.issued(), h.failed()) == ([], [])
    await h.run()
    assert payment.status == "succeeded"
    assert len(h.finance.settled) == 1


async def test_a_worker_that_died_mid_call_leaves_a_payment_that_is_resolved_by_query() -> None:
    h = Harness()
    payment = await h.accept(assessed())
    [step] = await service.claim(h.repo, now=NOW, limit=10, policy=POLICY, payer_budget_code=BUDGET)
    await h.finance.submit(step.instruction)  # settled, then the worker died before recording it
    assert payment.status == "submitted"
    assert await h.step() == [], "claimed while its lease was still running"
    h.now = NOW + timedelta(seconds=POLICY.lease_seconds)
    await h.run()
    assert payment.status == "succeeded"
    assert len(h.finance.submissions) == 1
    assert len(h.issued()) == 1


async def test_a_late_answer_for_an_already_decided_payment_changes_nothing() -> None:
    h = Harness()
    payment = await h.accept(assessed())
    [step] = await service.claim(h.repo, now=NOW, limit=10, policy=POLICY, payer_budget_code=BUDGET)
    result = await service.perform(h.finance, step)
    await service.record_outcome(h.repo, step, result, policy=POLICY, now=NOW, emit=h.emitted)
    await service.record_outcome(h.repo, step, result, policy=POLICY, now=NOW, emit=h.emitted)
    assert payment.status == "succeeded"
    assert len(h.issued()) == 1
    assert len(h.repo.attempts) == 2, "every answer is logged, even a late one"


async def test_a_settlement_for_another_amount_is_parked_for_a_person_to_check() -> None:
    h = Harness()
    payment = await h.accept(assessed(amount_fen=500))
    [step] = await service.claim(h.repo, now=NOW, limit=10, policy=POLICY, payer_budget_code=BUDGET)
    wrong = await h.finance.submit(step.instruction)
    await service.record_outcome(
        h.repo, step, dataclasses.replace(wrong, amount_fen=600), policy=POLICY, now=NOW, emit=h.emitted
    )
    assert (payment.status, payment.next_attempt_at, payment.failure_code) == (
        "unknown",
        None,
        "finance_amount_mismatch",
    )
    assert (h.issued(), h.failed()) == ([], [])


async def test_the_budget_code_is_frozen_at_the_first_submission() -> None:
    h = Harness(FakeFinance().then("fail"))
    payment = await h.accept(assessed())
    await h.step()
    steps = await service.claim(
        h.repo, now=NOW + timedelta(hours=1), limit=10, policy=POLICY, payer_budget_code="changed-later"
    )
    assert payment.payer_budget_code == BUDGET
    assert steps[0].instruction.payer_budget_code == BUDGET
