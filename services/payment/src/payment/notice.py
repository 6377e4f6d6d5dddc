"""公示 — public notice before payment, objections to it, and the enterprise's change of mind.

A cleared cash payment first goes on public notice for its policy's number of
working days (fewer for a red-listed enterprise where the policy says so — 守信激励).
Anyone may object while the notice runs; an objection holds the payment until an
operator decides: upheld withdraws it for good, dismissed returns it to notice (or,
if the notice has meanwhile ended, to the queue). A notice that ends without an
open objection releases the payment to the worker, exactly once.

Until its first submission a payment can still be cancelled by the enterprise
(ConfirmationRevoked); once its idempotency key has been sent to the finance
system it is left alone. The `stage` column carries all of this; the worker's
`status` column is only touched to take a payment out of its hands (cancelled,
withdrawn) or to hand it over (next_attempt_at).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mianshen_shared import city, tracing
from mianshen_shared.db import transaction
from mianshen_shared.events.catalog import ConfirmationRevoked, Payload, PaymentProgressed, PaymentStage
from mianshen_shared.messaging import Outbox
from mianshen_shared.problems import ProblemError
from mianshen_shared.runtime import Runtime
from payment.calendar import WorkingCalendar, shanghai_day
from payment.config import Settings
from payment.models import (
    CANCELLED,
    FAILED,
    IN_NOTICE,
    OBJECTED,
    OBJECTION_DISMISSED,
    OBJECTION_OPEN,
    OBJECTION_UPHELD,
    PENDING,
    STAGE_PENDING,
    SUBMITTED,
    SUCCEEDED,
    UNKNOWN,
    WITHDRAWN,
    NoticeObjection,
    Payment,
    RevokedAcceptance,
)
from payment.money import SessionMoney
from payment.repository import NoticeRepository
from payment.terms import NoticeTerms

log = logging.getLogger(__name__)

Emit = Callable[..., Awaitable[object]]
# Gives back whatever budget a payment had reserved; the budget module provides it.
Release = Callable[[Payment], Awaitable[None]]

# Past these the finance system may have seen the idempotency key: no cancelling.
_SUBMITTED_STATUSES = frozenset({SUBMITTED, UNKNOWN, SUCCEEDED, FAILED})
_OVER = frozenset({CANCELLED, WITHDRAWN})
OBJECTABLE_STAGES = (IN_NOTICE, OBJECTED)


class NoticeStore(Protocol):
    async def get(self, payment_id: uuid.UUID) -> Payment | None: ...
    async def get_for_update(self, payment_id: uuid.UUID) -> Payment | None: ...
    async def by_entitlement_for_update(self, entitlement_id: uuid.UUID) -> Payment | None: ...
    async def notices_ended(self, now: datetime, limit: int) -> list[Payment]: ...
    async def add_objection(self, objection: NoticeObjection) -> None: ...
    async def objection_for_update(self, objection_id: uuid.UUID) -> NoticeObjection | None: ...
    async def open_objections(self, payment_id: uuid.UUID) -> list[NoticeObjection]: ...
    async def add_revoked(self, revoked: RevokedAcceptance) -> None: ...
    async def is_revoked(self, acceptance_id: uuid.UUID) -> bool: ...


def budget_release(session: AsyncSession, now: datetime) -> Release:
    """Gives a cancelled or withdrawn payment's budget reservation back, if it holds one."""
    money = SessionMoney(session)

    async def release(payment: Payment) -> None:
        await money.failed(payment, now)

    return release


@functools.cache
def working_calendar() -> WorkingCalendar:
    """One per process, so the warning about an uncovered year is logged once."""
    listed = city.current().calendar
    return WorkingCalendar(holidays=listed.holidays, workdays=listed.workdays)


async def progressed(
    payment: Payment,
    stage: PaymentStage,
    *,
    now: datetime,
    emit: Emit,
    reason_code: str | None = None,
    reason: str | None = None,
    until: date | None = None,
) -> None:
    """Announce a payment's new stage (PaymentProgressed), in the trace of the credit
    decision that created it. The worker calls it with stage="submitted" at the
    first submission."""
    with tracing.resumed(payment.traceparent):
        await emit(
            PaymentProgressed(
                uscc=payment.uscc,
                payment_id=payment.payment_id,
                entitlement_id=payment.entitlement_id,
                policy_id=payment.policy_id,
                amount_fen=payment.amount_fen,
                stage=stage,
                reason_code=reason_code,
                reason=reason,
                until=until,
                progressed_at=now,
            ),
            key=payment.uscc,
            correlation_id=payment.correlation_id,
        )


# --- entering notice ------------------------------------------------------------------


async def enter_notice(
    payment: Payment, terms: NoticeTerms, *, calendar: WorkingCalendar, now: datetime, emit: Emit
) -> None:
    """Put a cleared, never submitted payment on notice, or straight in the queue when
    its policy asks for no notice. The notice batch groups one policy's payments
    that entered notice on the same Shanghai day."""
    today = shanghai_day(now)
    payment.notice_working_days = terms.working_days
    payment.notice_basis = terms.basis
    payment.notice_basis_reason = terms.reason
    payment.updated_at = now
    if terms.working_days == 0:
        payment.notice_batch = payment.notice_started_on = payment.notice_until = payment.notice_ends_at = None
        _to_queue(payment, now, reason=f"无需公示：{terms.reason}")
        await progressed(payment, "pending", now=now, emit=emit, reason_code="no_notice", reason=payment.stage_reason)
        return
    period = calendar.notice_period(today, terms.working_days)
    payment.status = PENDING
    payment.next_attempt_at = None
    payment.stage = IN_NOTICE
    payment.stage_reason = f"拨付前公示，至{period.until.isoformat()}止（{terms.reason}）"
    payment.notice_batch = batch_id(payment.policy_id, today)
    payment.notice_started_on = today
    payment.notice_until = period.until
    payment.notice_ends_at = period.ends_at
    await progressed(
        payment,
        "in_notice",
        now=now,
        emit=emit,
        reason_code=f"notice_{terms.basis}",
        reason=payment.stage_reason,
        until=period.until,
    )


def batch_id(policy_id: str, day: date) -> str:
    return f"{policy_id}-{day:%Y%m%d}"


def _to_queue(payment: Payment, now: datetime, *, reason: str) -> None:
    payment.status = PENDING
    payment.stage = STAGE_PENDING
    payment.stage_reason = reason
    payment.next_attempt_at = now
    payment.updated_at = now


async def end_notices(repo: NoticeStore, *, now: datetime, limit: int, emit: Emit) -> int:
    """Release the payments whose notice ended without an open objection. Each is
    locked and moved once, so its `pending` is announced once however many sweepers run."""
    ended = await repo.notices_ended(now, limit)
    for payment in ended:
        _to_queue(payment, now, reason=f"公示期满（{payment.notice_until}）无异议，待提交财政")
        await progressed(
            payment, "pending", now=now, emit=emit, reason_code="notice_ended", reason=payment.stage_reason
        )
    return len(ended)


# --- objections -------------------------------------------------------------------------


async def raise_objection(
    repo: NoticeStore, *, payment_id: uuid.UUID, reason: str, contact: str | None, now: datetime, emit: Emit
) -> NoticeObjection:
    """Anyone's objection while the notice runs; it holds the payment."""
    payment = await repo.get_for_update(payment_id)
    if payment is None or payment.notice_batch is None:
        raise ProblemError(404, "notice_not_found", "未找到该公示")
    if payment.stage not in OBJECTABLE_STAGES or payment.notice_ends_at is None or now >= payment.notice_ends_at:
        raise ProblemError(409, "notice_closed", "该公示已结束，不再受理异议")
    objection = NoticeObjection(
        objection_id=uuid.uuid4(),
        payment_id=payment.payment_id,
        reason=reason,
        contact=contact,
        status=OBJECTION_OPEN,
        raised_at=now,
    )
    await repo.add_objection(objection)
    if payment.stage == IN_NOTICE:
        payment.stage = OBJECTED
        payment.stage_reason = "公示期内收到异议，待核实后处理"
        payment.updated_at = now
        await progressed(
            payment, "objected", now=now, emit=emit, reason_code="objection_raised", reason=payment.stage_reason
        )
    return objection


Decision = Literal["uphold", "dismiss"]


async def decide_objection(
    repo: NoticeStore,
    *,
    objection_id: uuid.UUID,
    decision: Decision,
    reason: str,
    actor: str,
    now: datetime,
    emit: Emit,
    release: Release | None = None,
) -> NoticeObjection:
    """An operator's decision on one objection, recorded with who, when and why."""
    objection = await repo.objection_for_update(objection_id)
    if objection is None:
        raise ProblemError(404, "objection_not_found", "未找到该异议")
    if objection.status != OBJECTION_OPEN:
        raise ProblemError(409, "objection_decided", "该异议已处理", decided_by=objection.decided_by)
    objection.status = OBJECTION_UPHELD if decision == "uphold" else OBJECTION_DISMISSED
    objection.decided_by = actor
    objection.decided_at = now
    objection.decision_reason = reason
    payment = await repo.get_for_update(objection.payment_id)
    if payment is None or payment.stage != OBJECTED:
        return objection  # cancelled or withdrawn meanwhile: the decision is recorded, nothing moves
    payment.updated_at = now
    if decision == "uphold":
        payment.status = WITHDRAWN
        payment.stage = WITHDRAWN
        payment.next_attempt_at = None
        payment.stage_reason = f"公示异议经核实成立，撤销兑现：{reason}"
        await progressed(
            payment, "withdrawn", now=now, emit=emit, reason_code="objection_upheld", reason=payment.stage_reason
        )
        if release is not None:
            await release(payment)
        return objection
    if await repo.open_objections(payment.payment_id):
        return objection  # still held by another objection
    if payment.notice_ends_at is not None and now < payment.notice_ends_at:
        payment.stage = IN_NOTICE
        payment.stage_reason = f"异议经核实不成立，继续公示至{payment.notice_until}止"
        await progressed(
            payment,
            "in_notice",
            now=now,
            emit=emit,
            reason_code="objection_dismissed",
            reason=payment.stage_reason,
            until=payment.notice_until,
        )
    else:
        _to_queue(payment, now, reason="异议经核实不成立，公示期已满，待提交财政")
        await progressed(
            payment, "pending", now=now, emit=emit, reason_code="objection_dismissed", reason=payment.stage_reason
        )
    return objection


# --- the enterprise's change of mind -------------------------------------------------------


def never_submitted(payment: Payment) -> bool:
    return payment.attempts == 0 and payment.status not in _SUBMITTED_STATUSES


async def cancel_for_revocation(
    repo: NoticeStore,
    *,
    revoked: ConfirmationRevoked,
    now: datetime,
    emit: Emit,
    release: Release | None = None,
) -> Payment | None:
    """Cancel the payment of a revoked acceptance unless it was already submitted.
    The revocation is remembered either way, so a credit decision about the same
    acceptance arriving later creates nothing."""
    if not await repo.is_revoked(revoked.acceptance_id):
        await repo.add_revoked(
            RevokedAcceptance(
                acceptance_id=revoked.acceptance_id,
                entitlement_id=revoked.entitlement_id,
                reason=revoked.reason,
                revoked_at=revoked.revoked_at,
            )
        )
    payment = await repo.by_entitlement_for_update(revoked.entitlement_id)
    extra = {"entitlement_id": str(revoked.entitlement_id), "acceptance_id": str(revoked.acceptance_id)}
    if payment is None or payment.status in _OVER:
        return payment
    if payment.acceptance_id is not None and payment.acceptance_id != revoked.acceptance_id:
        log.info("revocation of an earlier acceptance; the payment follows a later one", extra=extra)
        return payment
    if not never_submitted(payment):
        log.warning("revocation arrived after the payment was submitted; it stands", extra=extra)
        return payment
    payment.status = CANCELLED
    payment.stage = CANCELLED
    payment.next_attempt_at = None
    payment.stage_reason = f"企业撤回兑现申请，未提交财政即取消：{revoked.reason}"
    payment.updated_at = now
    await progressed(
        payment, "cancelled", now=now, emit=emit, reason_code="confirmation_revoked", reason=payment.stage_reason
    )
    if release is not None:
        await release(payment)
    return payment


# --- the sweep --------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


class NoticeSweeper:
    """Moves ended notices to the queue, in batches, each in a transaction of its own."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        repository: Callable[[AsyncSession], NoticeStore],
        interval_seconds: float = 30.0,
        batch_size: int = 100,
        notify: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._repository = repository
        self._interval = interval_seconds
        self._batch_size = batch_size
        self._notify = notify
        self._clock = clock

    async def run(self) -> None:
        while True:
            try:
                while await self.run_once() == self._batch_size:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notice sweep failed; retrying in %.1fs", self._interval)
            await asyncio.sleep(self._interval)

    async def run_once(self) -> int:
        async with transaction(self._sessions) as session:

            async def emit(payload: Payload, *, key: str, correlation_id: str) -> None:
                await self._outbox.add(session, payload, key=key, correlation_id=correlation_id)

            moved = await end_notices(self._repository(session), now=self._clock(), limit=self._batch_size, emit=emit)
        if moved:
            self._notify()
        return moved


async def notice_sweeper(runtime: Runtime) -> Any:
    """Background task registered in Runtime.extra_tasks."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    sweeper = NoticeSweeper(
        sessions=runtime.sessions,
        outbox=runtime.outbox,
        repository=NoticeRepository,
        interval_seconds=settings.notice_sweep_seconds,
        notify=runtime.notify_relay,
    )
    await sweeper.run()


# --- public reads -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeEntry:
    payment: Payment
    policy_title: str | None


@dataclass(frozen=True)
class NoticeBatch:
    batch: str
    policy_id: str
    policy_title: str | None
    started_on: date
    until: date
    count: int
    total_fen: int


def titled(payments: Sequence[Payment], titles: dict[str, str]) -> list[NoticeEntry]:
    return [NoticeEntry(payment=p, policy_title=titles.get(p.policy_id)) for p in payments]
