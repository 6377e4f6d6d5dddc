"""All of confirmation's SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from confirmation.models import Confirmation, Entitlement, StatusEvent


class ConfirmationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_entitlement(self, entitlement_id: uuid.UUID) -> Entitlement | None:
        """The entitlement row is the lock for it and its confirmation: every change to
        either takes it first, so an answer and a re-determination never interleave."""
        return await self._session.scalar(
            sa.select(Entitlement)
            .where(Entitlement.entitlement_id == entitlement_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def lock_entitlements(self, entitlement_ids: Sequence[uuid.UUID]) -> list[Entitlement]:
        """lock_entitlement for many at once; always in id order, so two such locks
        taken at the same time cannot deadlock on each other."""
        if not entitlement_ids:
            return []
        rows = await self._session.scalars(
            sa.select(Entitlement)
            .where(Entitlement.entitlement_id.in_(entitlement_ids))
            .order_by(Entitlement.entitlement_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return list(rows)

    async def confirmations_for_entitlements(self, entitlement_ids: Sequence[uuid.UUID]) -> list[Confirmation]:
        if not entitlement_ids:
            return []
        rows = await self._session.scalars(
            sa.select(Confirmation)
            .where(Confirmation.entitlement_id.in_(entitlement_ids))
            .execution_options(populate_existing=True)
        )
        return list(rows)

    async def add_new(self, entitlements: Sequence[Entitlement], confirmations: Sequence[Confirmation]) -> None:
        """One INSERT per table. Two flushes because the ORM orders a flush by
        relationships, not foreign keys, and these models declare none: the
        entitlements must be in before the confirmations that refer to them."""
        self._session.add_all(entitlements)
        await self._session.flush()
        self._session.add_all(confirmations)
        await self._session.flush()

    async def add_status_events(self, events: Sequence[StatusEvent]) -> None:
        """One multi-row INSERT, in the given order, so ids follow the history."""
        if not events:
            return
        await self._session.execute(
            sa.insert(StatusEvent),
            [
                {
                    "entitlement_id": e.entitlement_id,
                    "status": e.status,
                    "kind": e.kind,
                    "note": e.note,
                    "details": e.details,
                    "occurred_at": e.occurred_at,
                }
                for e in events
            ],
        )

    async def add_entitlement(self, entitlement: Entitlement) -> None:
        self._session.add(entitlement)
        await self._session.flush()

    async def add_status_event(self, event: StatusEvent) -> None:
        self._session.add(event)
        await self._session.flush()

    async def status_events(self, entitlement_id: uuid.UUID) -> list[StatusEvent]:
        rows = await self._session.scalars(
            sa.select(StatusEvent).where(StatusEvent.entitlement_id == entitlement_id).order_by(StatusEvent.id)
        )
        return list(rows)

    async def entitlement_of(self, uscc: str, entitlement_id: uuid.UUID) -> Entitlement | None:
        return await self._session.scalar(
            sa.select(Entitlement).where(Entitlement.entitlement_id == entitlement_id, Entitlement.uscc == uscc)
        )

    async def entitlements_of(self, uscc: str) -> list[Entitlement]:
        rows = await self._session.scalars(
            sa.select(Entitlement)
            .where(Entitlement.uscc == uscc)
            .order_by(Entitlement.determined_at.desc(), Entitlement.entitlement_id)
        )
        return list(rows)

    async def confirmation_for_entitlement(self, entitlement_id: uuid.UUID) -> Confirmation | None:
        return await self._session.scalar(
            sa.select(Confirmation)
            .where(Confirmation.entitlement_id == entitlement_id)
            .execution_options(populate_existing=True)
        )

    async def confirmation_of(self, uscc: str, confirmation_id: uuid.UUID) -> Confirmation | None:
        return await self._session.scalar(
            sa.select(Confirmation)
            .where(Confirmation.confirmation_id == confirmation_id, Confirmation.uscc == uscc)
            .execution_options(populate_existing=True)
        )

    async def add_confirmation(self, confirmation: Confirmation) -> None:
        self._session.add(confirmation)
        await self._session.flush()

    async def confirmations_of(
        self, uscc: str, *, status: str | None, today: date
    ) -> list[tuple[Confirmation, Entitlement]]:
        """An enterprise's requests with their entitlements. A pending request past its
        deadline counts as expired even before the sweep has closed it."""
        query = (
            sa.select(Confirmation, Entitlement)
            .join(Entitlement, Entitlement.entitlement_id == Confirmation.entitlement_id)
            .where(Confirmation.uscc == uscc)
            .order_by(Confirmation.deadline, Confirmation.created_at, Confirmation.confirmation_id)
        )
        overdue = sa.and_(Confirmation.status == "pending", Confirmation.deadline < today)
        if status == "pending":
            query = query.where(Confirmation.status == "pending", Confirmation.deadline >= today)
        elif status == "expired":
            query = query.where(sa.or_(Confirmation.status == "expired", overdue))
        elif status is not None:
            query = query.where(Confirmation.status == status)
        rows = await self._session.execute(query)
        return [(c, e) for c, e in rows.all()]

    async def overdue_confirmations(self, today: date, *, limit: int = 500) -> list[Confirmation]:
        rows = await self._session.scalars(
            sa.select(Confirmation)
            .where(Confirmation.status == "pending", Confirmation.deadline < today)
            .order_by(Confirmation.deadline)
            .limit(limit)
        )
        return list(rows)
