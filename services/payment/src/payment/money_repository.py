"""The money core's SQL: budgets, the credit replica, the ledger and reconciliation runs.

Budget movements are single conditional UPDATEs, so two sessions racing for the
last fen of a budget queue on the row and the loser sees the winner's result;
the table's CHECK constraint is the backstop.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from payment.models import (
    BUDGET_EXHAUSTED,
    CREDIT_HELD,
    PENDING,
    Budget,
    BudgetChange,
    CreditStanding,
    LedgerEntry,
    Payment,
    ReconciliationDifference,
    ReconciliationRun,
)

_budgets = cast(sa.Table, Budget.__table__)
_payments = cast(sa.Table, Payment.__table__)


class BudgetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, policy_id: str, fiscal_year: int) -> Budget | None:
        return await self._session.scalar(
            sa.select(Budget)
            .where(Budget.policy_id == policy_id, Budget.fiscal_year == fiscal_year)
            .execution_options(populate_existing=True)
        )

    async def get_for_update(self, policy_id: str, fiscal_year: int) -> Budget | None:
        return await self._session.scalar(
            sa.select(Budget)
            .where(Budget.policy_id == policy_id, Budget.fiscal_year == fiscal_year)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def for_year(self, fiscal_year: int) -> list[Budget]:
        rows = await self._session.scalars(
            sa.select(Budget)
            .where(Budget.fiscal_year == fiscal_year)
            .order_by(Budget.policy_id)
            .execution_options(populate_existing=True)
        )
        return list(rows)

    async def all(self) -> list[Budget]:
        rows = await self._session.scalars(
            sa.select(Budget).order_by(Budget.fiscal_year, Budget.policy_id).execution_options(populate_existing=True)
        )
        return list(rows)

    async def create_if_absent(
        self, policy_id: str, fiscal_year: int, total_fen: int, source: str, now: datetime
    ) -> bool:
        """Insert an allocation unless one exists (a concurrent insert wins quietly)."""
        insert = postgresql.insert if self._dialect() == "postgresql" else sqlite.insert
        result = await self._session.execute(
            insert(_budgets)
            .values(
                policy_id=policy_id,
                fiscal_year=fiscal_year,
                total_fen=total_fen,
                reserved_fen=0,
                spent_fen=0,
                source=source,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["policy_id", "fiscal_year"])
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def reserve(self, policy_id: str, fiscal_year: int, amount_fen: int, now: datetime) -> bool:
        return await self._move(
            policy_id,
            fiscal_year,
            now,
            where=_budgets.c.total_fen - _budgets.c.reserved_fen - _budgets.c.spent_fen >= amount_fen,
            reserved_fen=_budgets.c.reserved_fen + amount_fen,
        )

    async def spend(self, policy_id: str, fiscal_year: int, amount_fen: int, now: datetime) -> bool:
        return await self._move(
            policy_id,
            fiscal_year,
            now,
            where=_budgets.c.reserved_fen >= amount_fen,
            reserved_fen=_budgets.c.reserved_fen - amount_fen,
            spent_fen=_budgets.c.spent_fen + amount_fen,
        )

    async def release(self, policy_id: str, fiscal_year: int, amount_fen: int, now: datetime) -> bool:
        return await self._move(
            policy_id,
            fiscal_year,
            now,
            where=_budgets.c.reserved_fen >= amount_fen,
            reserved_fen=_budgets.c.reserved_fen - amount_fen,
        )

    async def refund(self, policy_id: str, fiscal_year: int, amount_fen: int, now: datetime) -> bool:
        return await self._move(
            policy_id,
            fiscal_year,
            now,
            where=_budgets.c.spent_fen >= amount_fen,
            spent_fen=_budgets.c.spent_fen - amount_fen,
        )

    async def set_total(
        self, policy_id: str, fiscal_year: int, total_fen: int, source: str, budget_code: str | None, now: datetime
    ) -> bool:
        """Set the allocation unless it would fall below what is already reserved or spent."""
        values: dict[str, object] = {"total_fen": total_fen, "source": source}
        if budget_code is not None:
            values["budget_code"] = budget_code
        return await self._move(
            policy_id,
            fiscal_year,
            now,
            where=_budgets.c.reserved_fen + _budgets.c.spent_fen <= total_fen,
            **values,
        )

    async def add_change(self, change: BudgetChange) -> None:
        self._session.add(change)
        await self._session.flush()

    async def changes(self, policy_id: str, fiscal_year: int) -> list[BudgetChange]:
        rows = await self._session.scalars(
            sa.select(BudgetChange)
            .where(BudgetChange.policy_id == policy_id, BudgetChange.fiscal_year == fiscal_year)
            .order_by(BudgetChange.id)
        )
        return list(rows)

    async def waiting_counts(self, fiscal_year: int) -> dict[str, int]:
        rows = await self._session.execute(
            sa.select(Payment.policy_id, sa.func.count()).where(*_waiting(fiscal_year)).group_by(Payment.policy_id)
        )
        return {policy_id: int(count) for policy_id, count in rows.all()}

    async def wake_waiting(self, policy_id: str, fiscal_year: int) -> int:
        """Make payments waiting on this budget due again, the oldest first: their
        creation time becomes their due time, which is also the claim order."""
        result = await self._session.execute(
            sa.update(_payments)
            .where(Payment.policy_id == policy_id, *_waiting(fiscal_year))
            .values(next_attempt_at=_payments.c.created_at)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def _move(self, policy_id: str, fiscal_year: int, now: datetime, *, where: object, **values: object) -> bool:
        result = await self._session.execute(
            sa.update(_budgets)
            .where(_budgets.c.policy_id == policy_id, _budgets.c.fiscal_year == fiscal_year, where)  # type: ignore[arg-type]
            .values(updated_at=now, **values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def _dialect(self) -> str:
        return self._session.get_bind().dialect.name


def _waiting(fiscal_year: int) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        Payment.status == PENDING,
        Payment.stage == BUDGET_EXHAUSTED,
        Payment.budget_year == fiscal_year,
        Payment.budget_state.is_(None),
    )


class CreditReplicaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, uscc: str) -> CreditStanding | None:
        return await self._session.get(CreditStanding, uscc)

    async def add(self, standing: CreditStanding) -> None:
        self._session.add(standing)
        await self._session.flush()

    async def wake_held(self, uscc: str, now: datetime) -> int:
        """Held payments of the enterprise are re-checked at the next claim."""
        result = await self._session.execute(
            sa.update(_payments)
            .where(Payment.uscc == uscc, Payment.status == PENDING, Payment.stage == CREDIT_HELD)
            .values(next_attempt_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_lines(self, lines: Sequence[LedgerEntry]) -> None:
        self._session.add_all(lines)
        await self._session.flush()

    async def journal(self, journal_id: uuid.UUID) -> list[LedgerEntry]:
        rows = await self._session.scalars(
            sa.select(LedgerEntry).where(LedgerEntry.journal_id == journal_id).order_by(LedgerEntry.line_no)
        )
        return list(rows)

    async def reversal_of(self, journal_id: uuid.UUID) -> uuid.UUID | None:
        return await self._session.scalar(
            sa.select(LedgerEntry.journal_id).where(LedgerEntry.reverses_journal_id == journal_id).limit(1)
        )

    async def journal_ids_for_payment(self, payment_id: uuid.UUID, kind: str) -> list[uuid.UUID]:
        rows = await self._session.scalars(
            sa.select(LedgerEntry.journal_id)
            .where(LedgerEntry.payment_id == payment_id, LedgerEntry.kind == kind, LedgerEntry.line_no == 1)
            .order_by(LedgerEntry.id)
        )
        return list(rows)

    async def debits_by_payment(self, payment_ids: Sequence[uuid.UUID], kind: str) -> dict[uuid.UUID, int]:
        """Net amount each payment's journals of `kind` debited, reversals netted out."""
        if not payment_ids:
            return {}
        reversed_ids = sa.select(LedgerEntry.reverses_journal_id).where(LedgerEntry.reverses_journal_id.is_not(None))
        rows = await self._session.execute(
            sa.select(LedgerEntry.payment_id, sa.func.sum(LedgerEntry.debit_fen))
            .where(
                LedgerEntry.payment_id.in_(payment_ids),
                LedgerEntry.kind == kind,
                LedgerEntry.journal_id.not_in(reversed_ids),
            )
            .group_by(LedgerEntry.payment_id)
        )
        return {payment_id: int(total) for payment_id, total in rows.all() if payment_id is not None}

    async def totals_by_account(self) -> list[tuple[str, int, int]]:
        rows = await self._session.execute(
            sa.select(LedgerEntry.account, sa.func.sum(LedgerEntry.debit_fen), sa.func.sum(LedgerEntry.credit_fen))
            .group_by(LedgerEntry.account)
            .order_by(LedgerEntry.account)
        )
        return [(account, int(debit), int(credit)) for account, debit, credit in rows.all()]

    async def unbalanced_journals(self) -> list[uuid.UUID]:
        rows = await self._session.scalars(
            sa.select(LedgerEntry.journal_id)
            .group_by(LedgerEntry.journal_id)
            .having(sa.func.sum(LedgerEntry.debit_fen) != sa.func.sum(LedgerEntry.credit_fen))
        )
        return list(rows)


class ReconciliationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_run(self, run: ReconciliationRun, differences: Sequence[ReconciliationDifference]) -> None:
        self._session.add(run)
        await self._session.flush()
        self._session.add_all(differences)
        await self._session.flush()

    async def runs(self, limit: int, offset: int) -> list[ReconciliationRun]:
        rows = await self._session.scalars(
            sa.select(ReconciliationRun)
            .order_by(ReconciliationRun.started_at.desc(), ReconciliationRun.run_id)
            .limit(limit)
            .offset(offset)
        )
        return list(rows)

    async def run(self, run_id: uuid.UUID) -> ReconciliationRun | None:
        return await self._session.get(ReconciliationRun, run_id)

    async def differences(self, run_id: uuid.UUID) -> list[ReconciliationDifference]:
        rows = await self._session.scalars(
            sa.select(ReconciliationDifference)
            .where(ReconciliationDifference.run_id == run_id)
            .order_by(ReconciliationDifference.id)
        )
        return list(rows)

    async def payments_by_keys(self, keys: Sequence[str]) -> dict[str, Payment]:
        if not keys:
            return {}
        rows = await self._session.scalars(
            sa.select(Payment).where(Payment.idempotency_key.in_(keys)).with_for_update()
        )
        return {p.idempotency_key: p for p in rows}

    async def issued_between(self, start: datetime, end: datetime, statuses: Sequence[str]) -> list[Payment]:
        rows = await self._session.scalars(
            sa.select(Payment)
            .where(Payment.status.in_(statuses), Payment.issued_at >= start, Payment.issued_at < end)
            .order_by(Payment.issued_at)
        )
        return list(rows)
