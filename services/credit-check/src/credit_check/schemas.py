from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class CreditRecordRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    record_id: str
    record_type: str
    list_kind: str
    department: str
    effective_date: date
    expires_on: date | None
    attributes: dict[str, Any]
    revoked_at: datetime | None


class AssessmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    assessment_id: uuid.UUID
    confirmation_id: uuid.UUID
    entitlement_id: uuid.UUID
    decision: str
    reasons: list[dict[str, Any]]
    assessed_at: datetime


class CreditStatusRead(BaseModel):
    uscc: str
    listed: bool
    active_records: list[CreditRecordRead]
    all_records: list[CreditRecordRead]
    assessments: list[AssessmentRead]
