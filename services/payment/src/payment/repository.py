"""All of payment's SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from payment.models import (
    CANCELLED,
    IN_NOTICE,
    OBJECTION_OPEN,
    PENDING,
    SUBMITTED,
    UNCLAIMABLE_STAGES,
    UNKNOWN,
    WITHDRAWN,
    ExecutionInstruction,
    NoticeObjection,
    Payment,
    PaymentAttempt,
    PolicyTerms,
    RecoveryCase,
    RecoveryCaseEntry,
    RecoveryRepayment,
    RevokedAcceptance,
)

_WORKABLE = (PENDING, SUBMITTED, UNKNOWN)


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, payment_id: uuid.UUID) -> Payment | None:
        return await self._session.get(Payment, payment_id)

    async def get_for_update(self, payment_id: uuid.UUID) -> Payment | None:
        return await self._session.scalar(
            sa.select(Payment)
            .where(Payment.payment_id == payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def by_entitlement(self, entitlement_id: uuid.UUID) -> Payment | None:
        return await self._session.scalar(sa.select(Payment).where(Payment.entitlement_id == entitlement_id))

    async def for_enterprise(self, uscc: str) -> list[Payment]:
        rows = await self._session.scalars(
            sa.select(Payment).where(Payment.uscc == uscc).order_by(Payment.created_at, Payment.payment_id)
        )
        return list(rows)

    async def add(self, payment: Payment) -> None:
        self._session.add(payment)
        await self._session.flush()

    async def claim_due(self, now: datetime, limit: int) -> list[Payment]:
        """Due payments, locked. SKIP LOCKED lets replicas claim disjoint sets on
        PostgreSQL; SQLite (one process) ignores the clause."""
        rows = await self._session.scalars(
            sa.select(Payment)
            .where(Payment.status.in_(_WORKABLE), Payment.next_attempt_at <= now, past_notice(now))
            .order_by(Payment.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(rows)

    async def add_attempt(self, attempt: PaymentAttempt) -> None:
        self._session.add(attempt)
        await self._session.flush()

    async def attempts_for(self, payment_id: uuid.UUID) -> list[PaymentAttempt]:
        rows = await self._session.scalars(
            sa.select(PaymentAttempt).where(PaymentAttempt.payment_id == payment_id).order_by(PaymentAttempt.id)
        )
        return list(rows)


# --- non-cash instructions and 回头看 recovery cases (instructions.py, recovery.py) ---


class InstructionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_acceptance(self, acceptance_id: uuid.UUID) -> ExecutionInstruction | None:
        return await self._session.scalar(
            sa.select(ExecutionInstruction).where(ExecutionInstruction.acceptance_id == acceptance_id)
        )

    async def for_entitlement(self, entitlement_id: uuid.UUID) -> list[ExecutionInstruction]:
        rows = await self._session.scalars(
            sa.select(ExecutionInstruction)
            .where(ExecutionInstruction.entitlement_id == entitlement_id)
            .order_by(ExecutionInstruction.created_at)
        )
        return list(rows)

    async def get_for_update(self, instruction_id: uuid.UUID) -> ExecutionInstruction | None:
        return await self._session.scalar(
            sa.select(ExecutionInstruction)
            .where(ExecutionInstruction.instruction_id == instruction_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def listed(
        self, *, department: str | None = None, uscc: str | None = None, statuses: Sequence[str] = ()
    ) -> list[ExecutionInstruction]:
        query = sa.select(ExecutionInstruction)
        if department is not None:
            query = query.where(ExecutionInstruction.executing_department == department)
        if uscc is not None:
            query = query.where(ExecutionInstruction.uscc == uscc)
        if statuses:
            query = query.where(ExecutionInstruction.status.in_(statuses))
        rows = await self._session.scalars(
            query.order_by(ExecutionInstruction.created_at, ExecutionInstruction.instruction_id)
        )
        return list(rows)

    async def add(self, instruction: ExecutionInstruction) -> None:
        self._session.add(instruction)
        await self._session.flush()

    async def executing_department(self, policy_id: str, policy_version: int) -> str | None:
        return await self._session.scalar(
            sa.select(PolicyTerms.executing_department).where(
                PolicyTerms.policy_id == policy_id, PolicyTerms.version == policy_version
            )
        )

    async def revocation_reason(self, acceptance_id: uuid.UUID) -> str | None:
        return await self._session.scalar(
            sa.select(RevokedAcceptance.reason).where(RevokedAcceptance.acceptance_id == acceptance_id)
        )


class RecoveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def payment_for(self, entitlement_id: uuid.UUID) -> Payment | None:
        return await self._session.scalar(sa.select(Payment).where(Payment.entitlement_id == entitlement_id))

    async def payment(self, payment_id: uuid.UUID) -> Payment | None:
        return await self._session.get(Payment, payment_id)

    async def case_for(self, entitlement_id: uuid.UUID, due_fen: int) -> RecoveryCase | None:
        return await self._session.scalar(
            sa.select(RecoveryCase).where(
                RecoveryCase.entitlement_id == entitlement_id, RecoveryCase.due_fen == due_fen
            )
        )

    async def get(self, case_id: uuid.UUID, *, for_update: bool = False) -> RecoveryCase | None:
        query = sa.select(RecoveryCase).where(RecoveryCase.case_id == case_id)
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        return await self._session.scalar(query)

    async def listed(self, *, uscc: str | None = None, status: str | None = None) -> list[RecoveryCase]:
        query = sa.select(RecoveryCase)
        if uscc is not None:
            query = query.where(RecoveryCase.uscc == uscc)
        if status is not None:
            query = query.where(RecoveryCase.status == status)
        rows = await self._session.scalars(query.order_by(RecoveryCase.created_at, RecoveryCase.case_id))
        return list(rows)

    async def add(self, case: RecoveryCase) -> None:
        self._session.add(case)
        await self._session.flush()

    async def history(self, case_id: uuid.UUID) -> list[RecoveryCaseEntry]:
        rows = await self._session.scalars(
            sa.select(RecoveryCaseEntry).where(RecoveryCaseEntry.case_id == case_id).order_by(RecoveryCaseEntry.id)
        )
        return list(rows)

    async def append(self, entry: RecoveryCaseEntry) -> None:
        self._session.add(entry)
        await self._session.flush()

    async def repayment(self, case_id: uuid.UUID, reference: str) -> RecoveryRepayment | None:
        return await self._session.scalar(
            sa.select(RecoveryRepayment).where(
                RecoveryRepayment.case_id == case_id, RecoveryRepayment.reference == reference
            )
        )

    async def repayments(self, case_id: uuid.UUID) -> list[RecoveryRepayment]:
        rows = await self._session.scalars(
            sa.select(RecoveryRepayment)
            .where(RecoveryRepayment.case_id == case_id)
            .order_by(RecoveryRepayment.recorded_at, RecoveryRepayment.repayment_id)
        )
        return list(rows)

    async def add_repayment(self, repayment: RecoveryRepayment) -> None:
        self._session.add(repayment)
        await self._session.flush()


# --- 公示, objections and policy terms (notice.py, terms.py) ---


def past_notice(now: datetime) -> sa.ColumnElement[bool]:
    """Claimable only once out of notice and objection, and past the notice's end."""
    return sa.and_(
        sa.or_(Payment.stage.is_(None), Payment.stage.not_in(UNCLAIMABLE_STAGES)),
        sa.or_(Payment.notice_ends_at.is_(None), Payment.notice_ends_at <= now),
    )


class NoticeRepository(PaymentRepository):
    async def by_entitlement_for_update(self, entitlement_id: uuid.UUID) -> Payment | None:
        return await self._session.scalar(
            sa.select(Payment)
            .where(Payment.entitlement_id == entitlement_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def notices_ended(self, now: datetime, limit: int) -> list[Payment]:
        """Notices past their end, locked; SKIP LOCKED keeps concurrent sweepers apart."""
        rows = await self._session.scalars(
            sa.select(Payment)
            .where(Payment.stage == IN_NOTICE, Payment.notice_ends_at <= now)
            .order_by(Payment.notice_ends_at, Payment.payment_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(rows)

    async def add_objection(self, objection: NoticeObjection) -> None:
        self._session.add(objection)
        await self._session.flush()

    async def objection_for_update(self, objection_id: uuid.UUID) -> NoticeObjection | None:
        return await self._session.scalar(
            sa.select(NoticeObjection)
            .where(NoticeObjection.objection_id == objection_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def open_objections(self, payment_id: uuid.UUID) -> list[NoticeObjection]:
        rows = await self._session.scalars(
            sa.select(NoticeObjection).where(
                NoticeObjection.payment_id == payment_id, NoticeObjection.status == OBJECTION_OPEN
            )
        )
        return list(rows)

    async def objections(self, *, status: str | None, limit: int, offset: int) -> list[tuple[NoticeObjection, Payment]]:
        query = sa.select(NoticeObjection, Payment).join(Payment, Payment.payment_id == NoticeObjection.payment_id)
        if status is not None:
            query = query.where(NoticeObjection.status == status)
        rows = await self._session.execute(
            query.order_by(NoticeObjection.raised_at, NoticeObjection.objection_id).limit(limit).offset(offset)
        )
        return [(o, p) for o, p in rows]

    async def add_revoked(self, revoked: RevokedAcceptance) -> None:
        self._session.add(revoked)
        await self._session.flush()

    async def is_revoked(self, acceptance_id: uuid.UUID) -> bool:
        found = await self._session.scalar(
            sa.select(RevokedAcceptance.acceptance_id).where(RevokedAcceptance.acceptance_id == acceptance_id)
        )
        return found is not None

    async def terms(self, policy_id: str, version: int) -> PolicyTerms | None:
        return await self._session.get(PolicyTerms, (policy_id, version))

    async def latest_terms(self, policy_id: str) -> PolicyTerms | None:
        return await self._session.scalar(
            sa.select(PolicyTerms)
            .where(PolicyTerms.policy_id == policy_id)
            .order_by(PolicyTerms.version.desc())
            .limit(1)
        )

    async def add_terms(self, terms: PolicyTerms) -> None:
        self._session.add(terms)
        await self._session.flush()

    async def policy_titles(self, policy_ids: Sequence[str]) -> dict[str, str]:
        """The latest known title of each policy."""
        if not policy_ids:
            return {}
        rows = await self._session.execute(
            sa.select(PolicyTerms.policy_id, PolicyTerms.title)
            .where(PolicyTerms.policy_id.in_(set(policy_ids)))
            .order_by(PolicyTerms.policy_id, PolicyTerms.version)
        )
        return {policy_id: title for policy_id, title in rows}

    def _on_notice(self, *, policy_id: str | None, batch: str | None) -> list[sa.ColumnElement[bool]]:
        # Cancelled and withdrawn payments are no longer to be paid, so no longer on public notice.
        where: list[sa.ColumnElement[bool]] = [
            Payment.notice_batch.is_not(None),
            Payment.stage.not_in((CANCELLED, WITHDRAWN)),
        ]
        if policy_id is not None:
            where.append(Payment.policy_id == policy_id)
        if batch is not None:
            where.append(Payment.notice_batch == batch)
        return where

    async def notice_entries(
        self, *, policy_id: str | None, batch: str | None, limit: int, offset: int
    ) -> tuple[list[Payment], int]:
        where = self._on_notice(policy_id=policy_id, batch=batch)
        total = await self._session.scalar(sa.select(sa.func.count()).select_from(Payment).where(*where))
        rows = await self._session.scalars(
            sa.select(Payment)
            .where(*where)
            .order_by(Payment.notice_started_on.desc(), Payment.notice_batch, Payment.uscc, Payment.payment_id)
            .limit(limit)
            .offset(offset)
        )
        return list(rows), int(total or 0)

    async def notice_batches(
        self, *, policy_id: str | None, limit: int, offset: int
    ) -> list[tuple[str, str, date | None, date | None, int, int]]:
        """(batch, policy, started on, last notice end, payments, total fen), newest first."""
        batch = sa.cast(Payment.notice_batch, sa.String)
        rows = await self._session.execute(
            sa.select(
                batch,
                Payment.policy_id,
                Payment.notice_started_on,
                sa.func.max(Payment.notice_until),
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(Payment.amount_fen), 0),
            )
            .where(*self._on_notice(policy_id=policy_id, batch=None))
            .group_by(batch, Payment.policy_id, Payment.notice_started_on)
            .order_by(Payment.notice_started_on.desc(), batch)
            .limit(limit)
            .offset(offset)
        )
        return [(b, p, s, u, int(n), int(t)) for b, p, s, u, n, t in rows]
