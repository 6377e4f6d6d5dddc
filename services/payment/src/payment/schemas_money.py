"""API shapes of the money core's operator routes (routes_money.py)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from payment.budget import Burn
from payment.ledger import Balance
from payment.models import ReconciliationDifference, ReconciliationRun


class BudgetSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total_fen: int = Field(ge=0, le=10**15, strict=True, description="年度预算额度（分）")
    reason: str = Field(min_length=1, max_length=500, description="调整原因")


class BudgetRead(BaseModel):
    policy_id: str
    fiscal_year: int
    budget_code: str | None
    total_fen: int
    reserved_fen: int
    spent_fen: int
    remaining_fen: int
    waiting: int = Field(description="因额度不足等待的支付笔数")
    source: str

    @classmethod
    def of(cls, burn: Burn) -> BudgetRead:
        return cls(
            policy_id=burn.policy_id,
            fiscal_year=burn.fiscal_year,
            budget_code=burn.budget_code,
            total_fen=burn.total_fen,
            reserved_fen=burn.reserved_fen,
            spent_fen=burn.spent_fen,
            remaining_fen=burn.remaining_fen,
            waiting=burn.waiting,
            source=burn.source,
        )


class AccountBalanceRead(BaseModel):
    account: str
    debit_fen: int
    credit_fen: int


class LedgerBalanceRead(BaseModel):
    debit_fen: int
    credit_fen: int
    balanced: bool
    unbalanced_journals: list[uuid.UUID]
    accounts: list[AccountBalanceRead]

    @classmethod
    def of(cls, balance: Balance) -> LedgerBalanceRead:
        return cls(
            debit_fen=balance.debit_fen,
            credit_fen=balance.credit_fen,
            balanced=balance.balanced,
            unbalanced_journals=balance.unbalanced_journals,
            accounts=[AccountBalanceRead(account=a, debit_fen=d, credit_fen=c) for a, d, c in balance.accounts],
        )


class ReconciliationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: date


class DifferenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    idempotency_key: str
    payment_id: uuid.UUID | None
    our_amount_fen: int | None
    finance_amount_fen: int | None
    detail: str


class ReconciliationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    run_id: uuid.UUID
    statement_date: date
    status: str
    statement_count: int
    statement_total_fen: int
    our_count: int
    our_total_fen: int
    difference_count: int
    started_at: datetime
    finished_at: datetime
    differences: list[DifferenceRead] = Field(default_factory=list)

    @classmethod
    def of(
        cls, run: ReconciliationRun, differences: list[ReconciliationDifference] | None = None
    ) -> ReconciliationRead:
        read = cls.model_validate(run)
        if differences:
            read.differences = [DifferenceRead.model_validate(d) for d in differences]
        return read
