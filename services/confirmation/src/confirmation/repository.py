"""All of confirmation's SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from confirmation.models import (
    Confirmation,
    Entitlement,
    Notification,
    ReminderSent,
    SavedBankAccount,
    StatusEvent,
)
from confirmation.performance import EntitlementFacts, HistoryStep


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

    async def keep_traceparents(self, traceparents: dict[uuid.UUID, str | None]) -> None:
        """Remember each entitlement's latest trace context: one executemany UPDATE,
        however long the run."""
        table = cast(sa.Table, Entitlement.__table__)
        params = [{"id": eid, "traceparent": tp} for eid, tp in traceparents.items() if tp is not None]
        if params:
            await self._session.execute(
                sa.update(table)
                .where(table.c.entitlement_id == sa.bindparam("id"))
                .values(traceparent=sa.bindparam("traceparent")),
                params,
            )

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

    # --- money path (issue 4): saved accounts, reminders, notifications ---------------------

    async def saved_accounts_of(self, uscc: str) -> list[SavedBankAccount]:
        rows = await self._session.scalars(
            sa.select(SavedBankAccount)
            .where(SavedBankAccount.uscc == uscc)
            .order_by(SavedBankAccount.last_used_at.desc(), SavedBankAccount.account_id)
        )
        return list(rows)

    async def saved_account_of(self, uscc: str, account_id: uuid.UUID) -> SavedBankAccount | None:
        return await self._session.scalar(
            sa.select(SavedBankAccount).where(SavedBankAccount.account_id == account_id, SavedBankAccount.uscc == uscc)
        )

    async def add_saved_account(self, account: SavedBankAccount) -> None:
        self._session.add(account)
        await self._session.flush()

    async def add_notification(self, notification: Notification) -> None:
        self._session.add(notification)
        await self._session.flush()

    async def add_notifications(self, notifications: Sequence[Notification]) -> None:
        """One multi-row INSERT, however many a run of determinations caused."""
        if not notifications:
            return
        table = cast(sa.Table, Notification.__table__)
        await self._session.execute(
            sa.insert(table), [{c.name: getattr(n, c.key) for c in table.columns} for n in notifications]
        )

    async def claim_reminder_candidates(
        self, today: date, until: date, *, limit: int = 500
    ) -> list[tuple[Confirmation, Entitlement, set[int]]]:
        """Pending requests due between `today` and `until`, locked for this sweep
        (rows another replica is reminding are skipped, not waited for; SQLite has one
        writer and ignores the clause), each with the lead times already reminded for
        its current deadline."""
        rows = (
            await self._session.execute(
                sa.select(Confirmation, Entitlement)
                .join(Entitlement, Entitlement.entitlement_id == Confirmation.entitlement_id)
                .where(Confirmation.status == "pending", Confirmation.deadline >= today, Confirmation.deadline <= until)
                .order_by(Confirmation.deadline, Confirmation.confirmation_id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=Confirmation)
            )
        ).all()
        if not rows:
            return []
        sent = await self._session.execute(
            sa.select(ReminderSent.confirmation_id, ReminderSent.deadline, ReminderSent.days_before).where(
                ReminderSent.confirmation_id.in_([c.confirmation_id for c, _ in rows])
            )
        )
        claimed: dict[tuple[uuid.UUID, date], set[int]] = {}
        for confirmation_id, deadline, days_before in sent.all():
            claimed.setdefault((confirmation_id, deadline), set()).add(days_before)
        return [(c, e, claimed.get((c.confirmation_id, c.deadline), set())) for c, e in rows]

    async def add_reminder(self, reminder: ReminderSent) -> None:
        self._session.add(reminder)
        await self._session.flush()

    async def due_notifications(self, now: datetime, *, limit: int) -> list[Notification]:
        """Pending notifications due for an attempt, locked for this delivery round;
        another replica's round skips them instead of sending them twice."""
        rows = await self._session.scalars(
            sa.select(Notification)
            .where(Notification.status == "pending", Notification.next_attempt_at <= now)
            .order_by(Notification.next_attempt_at, Notification.notification_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(rows)

    async def notifications(
        self, *, status: str | None, uscc: str | None, limit: int, offset: int
    ) -> list[Notification]:
        query = sa.select(Notification)
        if status is not None:
            query = query.where(Notification.status == status)
        if uscc is not None:
            query = query.where(Notification.uscc == uscc)
        rows = await self._session.scalars(
            query.order_by(Notification.created_at.desc(), Notification.notification_id).limit(limit).offset(offset)
        )
        return list(rows)

    # --- 绩效评估 ---------------------------------------------------------------------------

    async def performance_rows(
        self, *, start: datetime, end: datetime, policy_id: str | None, open_statuses: Sequence[str]
    ) -> tuple[list[EntitlementFacts], list[HistoryStep]]:
        """What the performance report needs, in two queries: the entitlements first
        determined or paid in [start, end), and every one still open whenever it
        began (it may be stuck), each with its confirmation request and its history.
        Only `paid` steps bring their details, for the amount that was paid."""
        in_period = sa.select(StatusEvent.entitlement_id).where(
            StatusEvent.kind.in_(("determined", "paid")),
            StatusEvent.occurred_at >= start,
            StatusEvent.occurred_at < end,
        )
        selected = sa.select(Entitlement.entitlement_id).where(
            sa.or_(Entitlement.status.in_(list(open_statuses)), Entitlement.entitlement_id.in_(in_period))
        )
        if policy_id is not None:
            selected = selected.where(Entitlement.policy_id == policy_id)
        entitlements = await self._session.execute(
            sa.select(
                Entitlement.entitlement_id,
                Entitlement.uscc,
                Entitlement.enterprise_name,
                Entitlement.policy_id,
                Entitlement.policy_title,
                Entitlement.benefit_kind,
                Entitlement.amount_fen,
                Entitlement.status,
                Entitlement.determined_at,
                Entitlement.updated_at,
                Confirmation.status,
                Confirmation.deadline,
            )
            .outerjoin(Confirmation, Confirmation.entitlement_id == Entitlement.entitlement_id)
            .where(Entitlement.entitlement_id.in_(selected))
        )
        facts = [
            EntitlementFacts(
                entitlement_id=r[0],
                uscc=r[1],
                enterprise_name=r[2],
                policy_id=r[3],
                policy_title=r[4],
                benefit_kind=r[5],
                amount_fen=r[6],
                status=r[7],
                determined_at=r[8],
                updated_at=r[9],
                confirmation_status=r[10],
                confirmation_deadline=r[11],
            )
            for r in entitlements.all()
        ]
        paid_details = sa.case((StatusEvent.kind == "paid", StatusEvent.details), else_=sa.null())
        history = await self._session.execute(
            sa.select(
                StatusEvent.entitlement_id,
                StatusEvent.id,
                StatusEvent.status,
                StatusEvent.kind,
                StatusEvent.occurred_at,
                paid_details,
            ).where(StatusEvent.entitlement_id.in_(selected))
        )
        steps = [
            HistoryStep(
                entitlement_id=r[0],
                seq=r[1],
                status=r[2],
                kind=r[3],
                occurred_at=r[4],
                paid_amount_fen=_paid_amount(r[5]),
            )
            for r in history.all()
        ]
        return facts, steps


def _paid_amount(details: object) -> int | None:
    if isinstance(details, dict) and isinstance(details.get("amount_fen"), int):
        return int(details["amount_fen"])
    return None
