"""异议: anyone may object while a notice runs; an operator upholds or dismisses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mianshen_shared.events.catalog import PaymentProgressed
from mianshen_shared.problems import ProblemError
from payment import notice, service
from payment.calendar import WorkingCalendar
from payment.models import PENDING, WITHDRAWN, Payment

from .fakes import Emitted
from .notice_support import FakeNoticeRepository, assessed

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
REASON = "该企业实际经营地不在郑州，申报材料与事实不符"


async def _in_notice(repo: FakeNoticeRepository, emitted: Emitted) -> Payment:
    payment = await service.record_assessment(
        repo, assessed=assessed(), correlation_id="c-1", now=NOW, emit=emitted, calendar=WorkingCalendar()
    )
    assert payment is not None and payment.stage == "in_notice"
    return payment


async def _object(repo: FakeNoticeRepository, payment: Payment, emitted: Emitted, *, now: datetime = NOW):
    return await notice.raise_objection(
        repo, payment_id=payment.payment_id, reason=REASON, contact="0371-12345678", now=now, emit=emitted
    )


class Released:
    def __init__(self) -> None:
        self.payments: list[uuid.UUID] = []

    async def __call__(self, payment: Payment) -> None:
        self.payments.append(payment.payment_id)


def _stages(emitted: Emitted) -> list[str]:
    return [e.stage for e in emitted.of_type(PaymentProgressed)]


async def test_an_objection_during_notice_holds_the_payment_and_is_announced() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    payment = await _in_notice(repo, emitted)
    objection = await _object(repo, payment, emitted)
    assert (objection.status, objection.reason, objection.contact) == ("open", REASON, "0371-12345678")
    assert payment.stage == "objected"
    assert _stages(emitted) == ["in_notice", "objected"]
    # The enterprise is told it is held, not what was alleged or by whom.
    assert REASON not in (emitted.of_type(PaymentProgressed)[-1].reason or "")


async def test_a_second_objection_is_recorded_without_a_second_announcement() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    payment = await _in_notice(repo, emitted)
    await _object(repo, payment, emitted)
    await _object(repo, payment, emitted)
    assert len(repo.objections) == 2
    assert _stages(emitted) == ["in_notice", "objected"]


async def test_an_objection_after_the_notice_ended_is_refused_as_closed() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    payment = await _in_notice(repo, emitted)
    assert payment.notice_ends_at is not None
    with pytest.raises(ProblemError) as refused:
        await _object(repo, payment, emitted, now=payment.notice_ends_at)
    assert (refused.value.status, refused.value.code) == (409, "notice_closed")
    assert repo.objections == {}


async def test_an_objection_to_an_unknown_payment_is_not_found() -> None:
    with pytest.raises(ProblemError) as refused:
        await notice.raise_objection(
            FakeNoticeRepository(), payment_id=uuid.uuid4(), reason=REASON, contact=None, now=NOW, emit=Emitted()
        )
    assert (refused.value.status, refused.value.code) == (404, "notice_not_found")


async def test_an_upheld_objection_withdraws_the_payment_releases_its_budget_and_records_who() -> None:
    repo, emitted, released = FakeNoticeRepository(), Emitted(), Released()
    payment = await _in_notice(repo, emitted)
    objection = await _object(repo, payment, emitted)
    later = NOW + timedelta(hours=2)
    decided = await notice.decide_objection(
        repo,
        objection_id=objection.objection_id,
        decision="uphold",
        reason="经核实，企业已于2025年迁出",
        actor="clerk.wang",
        now=later,
        emit=emitted,
        release=released,
    )
    assert (decided.status, decided.decided_by, decided.decided_at) == ("upheld", "clerk.wang", later)
    assert decided.decision_reason == "经核实，企业已于2025年迁出"
    assert (payment.status, payment.stage, payment.next_attempt_at) == (WITHDRAWN, "withdrawn", None)
    assert released.payments == [payment.payment_id]
    assert _stages(emitted)[-1] == "withdrawn"
    # A withdrawn payment never comes back to notice, even once the notice would have ended.
    assert payment.notice_ends_at is not None
    assert await notice.end_notices(repo, now=payment.notice_ends_at, limit=10, emit=emitted) == 0


async def test_a_dismissed_objection_returns_the_payment_to_its_running_notice() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    payment = await _in_notice(repo, emitted)
    objection = await _object(repo, payment, emitted)
    await notice.decide_objection(
        repo,
        objection_id=objection.objection_id,
        decision="dismiss",
        reason="经核实不实",
        actor="clerk.li",
        now=NOW,
        emit=emitted,
    )
    assert (payment.stage, payment.next_attempt_at) == ("in_notice", None)
    last = emitted.of_type(PaymentProgressed)[-1]
    assert (last.stage, last.until) == ("in_notice", payment.notice_until)


async def test_a_dismissal_after_the_notice_ended_queues_the_payment() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    payment = await _in_notice(repo, emitted)
    objection = await _object(repo, payment, emitted)
    assert payment.notice_ends_at is not None
    after = payment.notice_ends_at + timedelta(days=2)
    await notice.decide_objection(
        repo,
        objection_id=objection.objection_id,
        decision="dismiss",
        reason="经核实不实",
        actor="clerk.li",
        now=after,
        emit=emitted,
    )
    assert (payment.status, payment.stage, payment.next_attempt_at) == (PENDING, "pending", after)
    assert _stages(emitted)[-1] == "pending"


async def test_a_payment_stays_held_while_another_objection_is_open() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    payment = await _in_notice(repo, emitted)
    first = await _object(repo, payment, emitted)
    await _object(repo, payment, emitted)
    await notice.decide_objection(
        repo,
        objection_id=first.objection_id,
        decision="dismiss",
        reason="不实",
        actor="clerk.li",
        now=NOW,
        emit=emitted,
    )
    assert payment.stage == "objected"


async def test_an_objection_is_decided_once() -> None:
    repo, emitted = FakeNoticeRepository(), Emitted()
    payment = await _in_notice(repo, emitted)
    objection = await _object(repo, payment, emitted)
    await notice.decide_objection(
        repo,
        objection_id=objection.objection_id,
        decision="dismiss",
        reason="不实",
        actor="clerk.li",
        now=NOW,
        emit=emitted,
    )
    with pytest.raises(ProblemError) as refused:
        await notice.decide_objection(
            repo,
            objection_id=objection.objection_id,
            decision="uphold",
            reason="改判",
            actor="clerk.zhao",
            now=NOW,
            emit=emitted,
        )
    assert (refused.value.status, refused.value.code) == (409, "objection_decided")
    assert objection.decided_by == "clerk.li"


async def test_a_decision_on_an_unknown_objection_is_not_found() -> None:
    with pytest.raises(ProblemError) as refused:
        await notice.decide_objection(
            FakeNoticeRepository(),
            objection_id=uuid.uuid4(),
            decision="dismiss",
            reason="不实",
            actor="a",
            now=NOW,
            emit=Emitted(),
        )
    assert refused.value.code == "objection_not_found"
