"""公示: a cleared cash payment goes on public notice, and is released once the notice ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from mianshen_shared.events.catalog import PaymentProgressed
from payment import notice, service, terms
from payment.calendar import WorkingCalendar
from payment.models import HELD, PENDING

from .fakes import Emitted
from .notice_support import POLICY_ID, FakeNoticeRepository, assessed, published

pytestmark = pytest.mark.unit

# Wednesday 2026-11-25, 10:00 in Shanghai.
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
CALENDAR = WorkingCalendar()


async def _record(repo: FakeNoticeRepository, event, emitted: Emitted, *, now: datetime = NOW):
    return await service.record_assessment(
        repo, assessed=event, correlation_id="c-1", now=now, emit=emitted, calendar=CALENDAR
    )


async def _policy(repo: FakeNoticeRepository, **procedure: int) -> None:
    await terms.record_published(repo, published=published(procedure=procedure or None))


def _stages(emitted: Emitted) -> list[str]:
    return [e.stage for e in emitted.of_type(PaymentProgressed)]


async def test_a_cleared_assessment_enters_notice_in_todays_batch_and_is_not_claimable() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    await _policy(repo, notice_working_days=5)
    payment = await _record(repo, assessed(), emitted)
    assert payment is not None
    assert (payment.status, payment.stage, payment.next_attempt_at) == (PENDING, "in_notice", None)
    assert payment.notice_batch == f"{POLICY_ID}-20261125"
    # Thu 26, Fri 27, Mon 30, Tue 1, Wed 2.
    assert payment.notice_until == date(2026, 12, 2)
    assert payment.notice_ends_at == datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
    assert (payment.notice_working_days, payment.notice_basis) == (5, "policy")
    [entered] = emitted.of_type(PaymentProgressed)
    assert (entered.stage, entered.until, entered.payment_id) == ("in_notice", date(2026, 12, 2), payment.payment_id)


async def test_the_batch_is_the_shanghai_day_not_the_utc_day() -> None:
    repo = FakeNoticeRepository()
    late_evening_utc = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)  # 01:00 on the 26th in Shanghai
    payment = await _record(repo, assessed(), Emitted(), now=late_evening_utc)
    assert payment is not None and payment.notice_batch == f"{POLICY_ID}-20261126"


async def test_a_red_listed_enterprise_is_on_notice_for_the_policys_red_list_days() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    await _policy(repo, notice_working_days=5, red_list_notice_working_days=1)
    payment = await _record(repo, assessed(red=True), emitted)
    assert payment is not None
    assert (payment.notice_working_days, payment.notice_basis, payment.notice_until) == (
        1,
        "red_list",
        date(2026, 11, 26),
    )
    assert "守信激励" in (payment.notice_basis_reason or "")


async def test_an_unknown_policy_is_on_notice_for_the_default_five_days_and_says_so() -> None:
    repo = FakeNoticeRepository()
    payment = await _record(repo, assessed(policy_id="zz-unknown"), Emitted())
    assert payment is not None
    assert (payment.notice_working_days, payment.notice_basis) == (5, "default")


async def test_a_policy_without_notice_sends_the_payment_straight_to_the_queue() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    await _policy(repo, notice_working_days=0)
    payment = await _record(repo, assessed(), emitted)
    assert payment is not None
    assert (payment.stage, payment.next_attempt_at, payment.notice_batch) == ("pending", NOW, None)
    assert _stages(emitted) == ["pending"]


async def test_a_held_assessment_is_held_without_notice_and_announced() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    payment = await _record(repo, assessed(decision="held"), emitted)
    assert payment is not None
    assert (payment.status, payment.stage, payment.notice_batch) == (HELD, "credit_held", None)
    assert _stages(emitted) == ["credit_held"]


async def test_a_held_payment_cleared_later_goes_on_notice() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    first = assessed(decision="held")
    await _record(repo, first, emitted)
    cleared = first.model_copy(update={"assessment_id": assessed().assessment_id, "decision": "cleared", "reasons": []})
    payment = await _record(repo, cleared, emitted)
    assert payment is not None and (payment.status, payment.stage) == (PENDING, "in_notice")
    assert _stages(emitted) == ["credit_held", "in_notice"]


async def test_the_same_assessment_again_changes_nothing_and_announces_nothing() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    event = assessed()
    first = await _record(repo, event, emitted)
    again = await _record(repo, event, emitted, now=NOW + timedelta(days=3))
    assert again is first and len(repo.payments) == 1
    assert first is not None and first.notice_batch == f"{POLICY_ID}-20261125"
    assert _stages(emitted) == ["in_notice"]


async def test_an_ended_notice_releases_the_payment_once() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    await _policy(repo, notice_working_days=1)
    payment = await _record(repo, assessed(), emitted)
    assert payment is not None and payment.notice_ends_at is not None
    before_end = payment.notice_ends_at - timedelta(seconds=1)
    assert await notice.end_notices(repo, now=before_end, limit=10, emit=emitted) == 0
    assert await notice.end_notices(repo, now=payment.notice_ends_at, limit=10, emit=emitted) == 1
    assert await notice.end_notices(repo, now=payment.notice_ends_at + timedelta(days=1), limit=10, emit=emitted) == 0
    assert (payment.stage, payment.next_attempt_at) == ("pending", payment.notice_ends_at)
    assert _stages(emitted) == ["in_notice", "pending"]


async def test_an_objected_payment_is_not_released_when_its_notice_ends() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    payment = await _record(repo, assessed(), emitted)
    assert payment is not None and payment.notice_ends_at is not None
    await notice.raise_objection(
        repo, payment_id=payment.payment_id, reason="该企业已迁出郑州，不符合条件", contact=None, now=NOW, emit=emitted
    )
    assert await notice.end_notices(repo, now=payment.notice_ends_at + timedelta(days=1), limit=10, emit=emitted) == 0
    assert payment.stage == "objected"


async def test_progressed_announces_a_stage_with_the_payments_keys() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    payment = await _record(repo, assessed(), emitted)
    assert payment is not None
    await notice.progressed(payment, "submitted", now=NOW, emit=emitted)
    last, key, correlation_id = emitted.events[-1]
    assert (last.stage, last.uscc, last.amount_fen, key, correlation_id) == (
        "submitted",
        payment.uscc,
        payment.amount_fen,
        payment.uscc,
        "c-1",
    )
