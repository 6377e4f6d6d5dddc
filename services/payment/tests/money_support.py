"""Helpers for the money-core tests: payments ready for the worker, fakes of the money
controls, and a payment service database on PostgreSQL or SQLite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import httpx
import sqlalchemy as sa

from finance_sim.app import create_app as create_finance_sim
from mianshen_shared import db, testing
from mianshen_shared.events.catalog import CreditRecordRef
from mianshen_shared.runtime import Runtime
from mianshen_shared.sealing import Sealer, mask_account_number
from payment import budget, credit
from payment.bootstrap import bootstrap
from payment.config import Settings
from payment.finance import FinanceClient
from payment.models import BUDGET_RELEASED, BUDGET_RESERVED, BUDGET_SPENT, PENDING, LedgerEntry, Payment

SEALER = Sealer.from_config("")
ACCOUNT_NUMBER = "6222020200001234567"
POLICY_ID = "zz-2022-02-specialized-sme-award"
NOW = datetime(2026, 11, 25, 2, tzinfo=UTC)


def payment(
    *,
    amount_fen: int = 100_000,
    policy_id: str = POLICY_ID,
    uscc: str | None = None,
    created_at: datetime = NOW,
) -> Payment:
    """A cash payment past 公示, due now: what the worker picks up."""
    entitlement_id = uuid.uuid4()
    return Payment(
        payment_id=uuid.uuid4(),
        entitlement_id=entitlement_id,
        assessment_id=uuid.uuid4(),
        confirmation_id=uuid.uuid4(),
        acceptance_id=uuid.uuid4(),
        uscc=uscc or testing.make_uscc(),
        enterprise_name="郑州示例科技有限公司",
        policy_id=policy_id,
        policy_version=1,
        amount_fen=amount_fen,
        payee_name="郑州示例科技有限公司",
        payee_account_sealed=SEALER.seal(ACCOUNT_NUMBER),
        payee_account_masked=mask_account_number(ACCOUNT_NUMBER),
        payee_bank_name="中国工商银行郑州分行",
        idempotency_key=f"mjx-{entitlement_id}",
        status=PENDING,
        stage="pending",
        attempts=0,
        consecutive_errors=0,
        next_attempt_at=created_at,
        hold_reasons=[],
        correlation_id=f"c-{entitlement_id}",
        created_at=created_at,
        updated_at=created_at,
    )


def black_record(*, effective: date = date(2026, 1, 1), expires: date | None = None) -> CreditRecordRef:
    return CreditRecordRef(
        record_id="credit-77",
        list_type="credit.dishonest_judgment_debtor",
        department="credit",
        effective_date=effective,
        expires_on=expires,
    )


@dataclass
class FakeMoney:
    """The money controls in memory: a credit replica and budgets by (policy, year)."""

    black: dict[str, list[CreditRecordRef]] = field(default_factory=dict)
    budgets: dict[tuple[str, int], list[int]] = field(default_factory=dict)  # [total, reserved, spent]
    settlements: list[uuid.UUID] = field(default_factory=list)

    async def black_records_in_force(self, uscc: str, day: date) -> list[CreditRecordRef]:
        return [r for r in self.black.get(uscc, []) if credit.in_force(r, day)]

    async def reserve(self, payment: Payment, now: datetime) -> bool:
        year = budget.fiscal_year_of(now)
        payment.budget_year = year
        total, reserved, spent = self.budgets.get((payment.policy_id, year), [0, 0, 0])
        if total - reserved - spent < payment.amount_fen:
            return False
        self.budgets[(payment.policy_id, year)] = [total, reserved + payment.amount_fen, spent]
        payment.budget_state = BUDGET_RESERVED
        return True

    async def settled(self, payment: Payment, now: datetime) -> None:
        assert payment.budget_year is not None
        row = self.budgets[(payment.policy_id, payment.budget_year)]
        row[1] -= payment.amount_fen
        row[2] += payment.amount_fen
        payment.budget_state = BUDGET_SPENT
        self.settlements.append(payment.payment_id)

    async def failed(self, payment: Payment, now: datetime) -> None:
        if payment.budget_state == BUDGET_RESERVED and payment.budget_year is not None:
            self.budgets[(payment.policy_id, payment.budget_year)][1] -= payment.amount_fen
            payment.budget_state = BUDGET_RELEASED


@asynccontextmanager
async def payment_runtime(url: str) -> AsyncIterator[Runtime]:
    """payment's database, migrated, with its sessions and outbox; no Kafka."""
    await db.migrate("payment.migrations", url)
    runtime = bootstrap(Settings(database_url=url, messaging_enabled=False, environment="test"))
    try:
        yield runtime
    finally:
        await runtime.engine.dispose()


def in_process_finance(**kwargs: object) -> tuple[object, httpx.ASGITransport]:
    app = create_finance_sim(":memory:", **kwargs)  # type: ignore[arg-type]
    return app, httpx.ASGITransport(app=app)


def finance_client(transport: httpx.AsyncBaseTransport) -> FinanceClient:
    return FinanceClient("http://finance", timeout_seconds=5.0, transport=transport)


async def unbalanced_journals(runtime: Runtime) -> list[object]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            sa.select(LedgerEntry.journal_id)
            .group_by(LedgerEntry.journal_id)
            .having(sa.func.sum(LedgerEntry.debit_fen) != sa.func.sum(LedgerEntry.credit_fen))
        )
        return list(rows.scalars())
