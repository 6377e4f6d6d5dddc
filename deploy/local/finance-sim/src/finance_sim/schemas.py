"""The simulator's wire shapes, as the finance system publishes them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Payee(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    account_number: str = Field(pattern=r"^[0-9]{8,32}$")
    bank_name: str = Field(min_length=1, max_length=200)


class InstructionCreate(BaseModel):
    """支付指令 — one payment instruction from a budget unit to a payee."""

    model_config = ConfigDict(extra="forbid")

    idempotency_key: str = Field(min_length=1, max_length=100)
    payer_budget_code: str = Field(min_length=1, max_length=64)
    payee: Payee
    amount_fen: int = Field(gt=0, strict=True)
    purpose: str = Field(min_length=1, max_length=200)
    reference: str = Field(min_length=1, max_length=100)


class InstructionRead(BaseModel):
    instruction_id: str
    idempotency_key: str
    # `returned`: settled, then sent back by the payee's bank (退票), e.g. a closed account.
    status: Literal["settled", "returned"]
    payer_budget_code: str
    payee: Payee
    amount_fen: int
    purpose: str
    reference: str
    settled_at: datetime
    returned_at: datetime | None = None
    return_reason: str | None = None


class Statement(BaseModel):
    """对账单 — what was settled on a Beijing-time day (with its status as of now),
    and what was returned on that day whenever it had been settled."""

    date: str
    count: int
    total_amount_fen: int
    instructions: list[InstructionRead]
    returned: list[InstructionRead] = Field(default_factory=list)


class ReturnCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="收款账户已销户，资金退回", min_length=1, max_length=200)


class Allocation(BaseModel):
    """预算指标 — money a budget unit may pay under one policy in a fiscal year."""

    model_config = ConfigDict(extra="forbid")

    budget_code: str = Field(min_length=1, max_length=64)
    policy_id: str = Field(min_length=1, max_length=128)
    amount_fen: int = Field(ge=0, strict=True)


class Allocations(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100)
    allocations: list[Allocation]


class AllocationsSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allocations: list[Allocation] = Field(max_length=1000)


class FaultCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["fail", "reject", "timeout", "drop_after_apply"]
    count: int = Field(default=1, ge=1, le=1000)
    code: str = Field(default="account_invalid", min_length=1, max_length=64)
    message: str = Field(default="收款账户无效或已销户", min_length=1, max_length=200)
    delay_seconds: float | None = Field(default=None, gt=0, le=600)
