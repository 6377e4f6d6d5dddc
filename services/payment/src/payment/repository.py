"""All of payment's SQL."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from payment.models import PENDING, SUBMITTED, UNKNOWN, Payment, PaymentAttempt

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
            .where(Payment.status.in_(_WORKABLE), Payment.next_attempt_at <= now)
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
