"""The money controls around one payment, on one database session: the credit
replica and the budget before submission, the budget and the ledger after the
finance system answered. service.claim and service.record_outcome call these;
they only add to the caller's transaction."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from mianshen_shared.events.catalog import CreditRecordRef
from payment import budget, credit, ledger
from payment.models import BUDGET_RELEASED, BUDGET_RESERVED, BUDGET_SPENT, Payment
from payment.money_repository import BudgetRepository, CreditReplicaRepository, LedgerRepository


class SessionMoney:
    def __init__(self, session: AsyncSession, *, seed: budget.Seed | None = None) -> None:
        self._session = session
        self._budgets = BudgetRepository(session)
        self._credit = CreditReplicaRepository(session)
        self._seed = budget.city_seed() if seed is None else seed

    async def black_records_in_force(self, uscc: str, day: date) -> list[CreditRecordRef]:
        return credit.black_records_in_force(await self._credit.get(uscc), day)

    async def reserve(self, payment: Payment, now: datetime) -> bool:
        """Reserve the payment's amount in this fiscal year's budget, once."""
        assert payment.budget_state is None, "a payment reserves its budget once"
        year = budget.fiscal_year_of(now)
        payment.budget_year = year
        reserved = await budget.reserve(
            self._budgets,
            policy_id=payment.policy_id,
            fiscal_year=year,
            amount_fen=payment.amount_fen,
            now=now,
            seed=self._seed,
        )
        if reserved:
            payment.budget_state = BUDGET_RESERVED
        return reserved

    async def settled(self, payment: Payment, now: datetime) -> None:
        """Reserved becomes spent, and the settlement is journaled."""
        if payment.budget_state == BUDGET_RESERVED and payment.budget_year is not None:
            await self._budgets.spend(payment.policy_id, payment.budget_year, payment.amount_fen, now)
            payment.budget_state = BUDGET_SPENT
        year = payment.budget_year or budget.fiscal_year_of(payment.issued_at or now)
        await ledger.post(
            self._session,
            [
                ledger.Line.debit(ledger.expense_account(payment.policy_id, year), payment.amount_fen),
                ledger.Line.credit(ledger.treasury_account(payment.payer_budget_code or "unknown"), payment.amount_fen),
            ],
            kind=ledger.SETTLEMENT,
            now=now,
            payment_id=payment.payment_id,
            memo=f"财政已结算：{payment.finance_reference or ''}",
        )

    async def failed(self, payment: Payment, now: datetime) -> None:
        """A payment that will never be paid gives its reservation back."""
        if payment.budget_state == BUDGET_RESERVED and payment.budget_year is not None:
            await self._budgets.release(payment.policy_id, payment.budget_year, payment.amount_fen, now)
            payment.budget_state = BUDGET_RELEASED

    async def returned(self, payment: Payment, reason: str, now: datetime) -> None:
        """A settled payment the bank sent back: its settlement is reversed and its
        spending given back to the budget."""
        for journal_id in await LedgerRepository(self._session).journal_ids_for_payment(
            payment.payment_id, ledger.SETTLEMENT
        ):
            if await LedgerRepository(self._session).reversal_of(journal_id) is None:
                await ledger.reverse(self._session, journal_id, reason, now=now, kind=ledger.RETURNED)
        if payment.budget_state == BUDGET_SPENT and payment.budget_year is not None:
            await self._budgets.refund(payment.policy_id, payment.budget_year, payment.amount_fen, now)
            payment.budget_state = BUDGET_RELEASED
