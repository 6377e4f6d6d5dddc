from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class FactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    record_id: str
    department: str
    record_type: str
    effective_date: date
    attributes: dict[str, Any]
    enterprise_name: str | None
    revoked: bool
    received_at: datetime
    updated_at: datetime


class EntitlementRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    entitlement_id: uuid.UUID
    policy_id: str
    policy_version: int
    policy_title: str
    benefit_kind: str
    award_key: str
    amount_fen: int = Field(description="金额，单位：分；已撤回的认定为0")
    status: str = Field(description="active 有效 / withdrawn 已撤回")
    explanation: dict[str, Any]
    determined_at: datetime


class PolicyAmountRead(BaseModel):
    policy_id: str
    policy_title: str
    amount_fen: int


class EligibilitySummaryRead(BaseModel):
    """What an enterprise is currently entitled to, without the supporting data."""

    uscc: str
    total_amount_fen: int
    policies: list[PolicyAmountRead]
