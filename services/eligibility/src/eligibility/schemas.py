from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _as_utc(value: datetime) -> datetime:
    # SQLite (the quick-start database) hands timestamps back without their zone; they were stored in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class FactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    record_id: str
    department: str
    record_type: str
    effective_date: date
    attributes: dict[str, Any]
    enterprise_name: str | None
    revoked: bool
    received_at: UtcDatetime
    updated_at: UtcDatetime


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
    determined_at: UtcDatetime


class PolicyAmountRead(BaseModel):
    policy_id: str
    policy_title: str
    amount_fen: int


class EligibilitySummaryRead(BaseModel):
    """What an enterprise is currently entitled to, without the supporting data."""

    uscc: str
    total_amount_fen: int
    policies: list[PolicyAmountRead]
