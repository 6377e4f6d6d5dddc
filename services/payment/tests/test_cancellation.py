"""The enterprise changes its mind: cancelled before submission, left alone after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mianshen_shared.events.catalog import PaymentProgressed
from payment import notice, service
from payment.calendar import WorkingCalendar
from payment.models import CANCELLED, PENDING, SUBMITTED, Payment

from .fakes import Emitted
from .notice_support import FakeNoticeRepository, account, assessed, revoked

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


async def _record(repo: FakeNoticeRepository, event, emitted: Emitted, *, now: datetime = NOW) -> Payment | None:
    return await service.record_assessment(
        repo, assessed=event, correlation_id="c-1", now=now, emit=emitted, calendar=WorkingCalendar()
    )


class Released:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, payment: Payment) -> None:
        self.count += 1


def _stages(emitted: Emitted) -> list[str]:
    return [e.stage for e in emitted.of_type(PaymentProgressed)]


@pytest.mark.parametrize("decision", ["cleared", "held"])
async def test_a_revocation_before_submission_cancels_the_payment_and_releases_its_budget(decision: str) -> None:
    repo, emitted, released = FakeNoticeRepository(), Emitted(), Released()
    event = assessed(decision=decision)
    payment = await _record(repo, event, emitted)
    await notice.cancel_for_revocation(repo, revoked=revoked(event), now=NOW, emit=emitted, release=released)
    assert payment is not None
    assert (payment.status, payment.stage, payment.next_attempt_at) == (CANCELLED, "cancelled", None)
    assert "企业决定暂不申领" in (payment.stage_reason or "")
    assert _stages(emitted)[-1] == "cancelled"
    assert released.count == 1


async def test_a_revocation_after_submission_leaves_the_payment_and_announces_nothing() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    event = assessed()
    payment = await _record(repo, event, emitted)
    assert payment is not None
    payment.status, payment.stage, payment.attempts = SUBMITTED, "submitted", 1
    before = len(emitted.events)
    await notice.cancel_for_revocation(repo, revoked=revoked(event), now=NOW, emit=emitted)
    assert (payment.status, payment.stage) == (SUBMITTED, "submitted")
    assert len(emitted.events) == before


async def test_a_revocation_that_overtakes_the_credit_decision_means_no_payment_is_created() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    event = assessed()
    assert await notice.cancel_for_revocation(repo, revoked=revoked(event), now=NOW, emit=emitted) is None
    assert await _record(repo, event, emitted) is None
    assert repo.payments == {} and emitted.events == []


async def test_a_new_acceptance_reopens_a_cancelled_payment_with_its_account_and_a_fresh_notice() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    first = assessed()
    payment = await _record(repo, first, emitted)
    await notice.cancel_for_revocation(repo, revoked=revoked(first), now=NOW, emit=emitted)
    later = NOW + timedelta(days=2)
    again = assessed(first.uscc, entitlement_id=first.entitlement_id, bank_account=account("6217000011112222"))
    reopened = await _record(repo, again, emitted, now=later)
    assert reopened is payment and len(repo.payments) == 1
    assert reopened is not None
    assert (reopened.status, reopened.stage, reopened.acceptance_id) == (PENDING, "in_notice", again.acceptance_id)
    assert reopened.payee_account_masked == "6217********2222"
    assert reopened.notice_started_on == later.date()
    assert reopened.idempotency_key == f"mjx-{first.entitlement_id}"
    assert _stages(emitted) == ["in_notice", "cancelled", "in_notice"]


async def test_a_redelivered_assessment_does_not_reopen_a_cancelled_payment() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    event = assessed()
    payment = await _record(repo, event, emitted)
    await notice.cancel_for_revocation(repo, revoked=revoked(event), now=NOW, emit=emitted)
    await _record(repo, event, emitted)
    assert payment is not None and payment.status == CANCELLED
    assert _stages(emitted) == ["in_notice", "cancelled"]


async def test_revoking_an_earlier_acceptance_leaves_the_payment_of_a_later_one() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    first = assessed()
    await _record(repo, first, emitted)
    # The enterprise answered again before the revocation of its first answer arrived.
    second = assessed(first.uscc, entitlement_id=first.entitlement_id)
    payment = await _record(repo, second, emitted)
    await notice.cancel_for_revocation(repo, revoked=revoked(first), now=NOW, emit=emitted)
    assert payment is not None
    assert (payment.status, payment.stage, payment.acceptance_id) == (PENDING, "in_notice", second.acceptance_id)


async def test_a_submitted_payment_is_not_taken_over_by_a_new_acceptance() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    first = assessed()
    payment = await _record(repo, first, emitted)
    assert payment is not None
    payment.status, payment.attempts = SUBMITTED, 1
    await _record(repo, assessed(first.uscc, entitlement_id=first.entitlement_id, amount_fen=1), emitted)
    assert (payment.acceptance_id, payment.amount_fen) == (first.acceptance_id, first.amount_fen)
