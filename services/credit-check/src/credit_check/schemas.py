from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CreditRecordRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    record_id: str
    record_type: str
    list_kind: str = Field(description="black 失信 / red 守信激励")
    department: str
    effective_date: date = Field(description="生效日期（含当日）")
    expires_on: date | None = Field(description="失效日期（自当日起不再有效）；为空表示直至移出")
    attributes: dict[str, Any]
    revoked_at: datetime | None


class CreditRecordRefRead(BaseModel):
    record_id: str
    list_type: str
    department: str
    effective_date: date
    expires_on: date | None = None


class AssessmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    assessment_id: uuid.UUID
    acceptance_id: uuid.UUID | None = Field(description="所核查的那一次确认；重新确认有其自己的核查")
    confirmation_id: uuid.UUID
    entitlement_id: uuid.UUID
    decision: str = Field(description="cleared 通过 / held 暂缓")
    reasons: list[CreditRecordRefRead] = Field(description="暂缓所依据的失信记录")
    red_records: list[CreditRecordRefRead] = Field(description="核查时有效的红名单记录")
    supersedes: uuid.UUID | None = Field(description="解除暂缓时：被取代的暂缓核查")
    assessed_at: datetime


class CreditStandingRead(BaseModel):
    black_records: list[CreditRecordRead] = Field(description="今日有效或将生效的失信记录")
    red_records: list[CreditRecordRead] = Field(description="今日有效或将生效的红名单记录")


class CreditStatusRead(BaseModel):
    uscc: str
    as_of: date = Field(description="据以判断有效期的日期（北京时间）")
    listed: bool = Field(description="今日是否在失信名单中")
    red_listed: bool = Field(description="今日是否在红名单中")
    active_records: list[CreditRecordRead] = Field(description="今日有效的失信记录")
    active_red_records: list[CreditRecordRead]
    standing: CreditStandingRead
    all_records: list[CreditRecordRead] = Field(description="全部记录，含已到期、已移出的")
    assessments: list[AssessmentRead]


class EntitlementAssessmentsRead(BaseModel):
    entitlement_id: uuid.UUID
    decision: str = Field(description="现行的核查结论（最新一次）")
    assessments: list[AssessmentRead] = Field(description="该待遇的全部核查，先后为序")
