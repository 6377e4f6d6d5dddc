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
    paid_fen: int | None = Field(description="已拨付金额，单位：分；未拨付为null")
    settled_at: UtcDatetime | None = Field(description="拨付时间；已拨付的认定不再变更或撤回")


class PolicyAmountRead(BaseModel):
    policy_id: str
    policy_title: str
    amount_fen: int


class EligibilitySummaryRead(BaseModel):
    """What an enterprise is currently entitled to, without the supporting data."""

    uscc: str
    total_amount_fen: int
    policies: list[PolicyAmountRead]


# --- re-evaluation jobs (operators) -------------------------------------------------

JOB_STATUS_TEXT = {
    "queued": "排队中",
    "running": "比对中",
    "done": "已完成",
    "failed": "已失败",
    "superseded": "已被更新的任务取代",
}
JOB_REASON_TEXT = {"published": "政策发布", "retired": "政策废止", "manual": "人工发起"}


class ReevaluationCreate(BaseModel):
    """An operator's request to check one policy against every enterprise again."""

    model_config = ConfigDict(extra="forbid")

    policy_id: str = Field(min_length=1, max_length=120, description="政策编号")


class ReevaluationJobRead(BaseModel):
    job_id: uuid.UUID
    policy_id: str
    policy_version: int
    reason: str = Field(description="published 政策发布 / retired 政策废止 / manual 人工发起")
    reason_text: str
    note: str | None = Field(description="废止原因等补充说明")
    status: str = Field(description="queued / running / done / failed / superseded")
    status_text: str = Field(description="状态说明（中文）")
    total: int = Field(description="需比对的企业数（开始比对时统计）")
    done: int = Field(description="已比对的企业数")
    determinations: int = Field(description="已发出的认定变更数")
    last_error: str | None
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    updated_at: UtcDatetime

    @classmethod
    def of(cls, job: Any) -> ReevaluationJobRead:
        return cls(
            job_id=job.job_id,
            policy_id=job.policy_id,
            policy_version=job.policy_version,
            reason=job.reason,
            reason_text=JOB_REASON_TEXT.get(job.reason, job.reason),
            note=job.note,
            status=job.status,
            status_text=_status_text(job),
            total=job.total,
            done=job.done,
            determinations=job.determinations,
            last_error=job.last_error,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            updated_at=job.updated_at,
        )


def _status_text(job: Any) -> str:
    text: str = JOB_STATUS_TEXT.get(job.status, job.status)
    if job.status == "running":
        return f"{text}：已比对{job.done}/{job.total}家企业，发出{job.determinations}项认定变更"
    if job.status == "done":
        return f"{text}：共比对{job.done}家企业，发出{job.determinations}项认定变更"
    if job.status == "failed":
        return f"{text}：已比对{job.done}/{job.total}家企业后中止，{job.last_error or '原因不明'}"
    return text


class ReevaluationPage(BaseModel):
    items: list[ReevaluationJobRead]
    total: int
    limit: int
    offset: int


# --- "why (not)?" -------------------------------------------------------------------


class CheckRead(BaseModel):
    text: str = Field(description="核查的条件（中文）")
    met: bool | None = Field(description="是否满足；null 表示说明而非条件")


class AwardRead(BaseModel):
    award_key: str
    amount_fen: int = Field(description="金额，单位：分")
    explanation: dict[str, Any]


class FactUsedRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    record_id: str
    department: str
    record_type: str
    effective_date: date
    attributes: dict[str, Any]


class PriorAwardRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    award_key: str
    amount_fen: int = Field(description="已拨付金额，单位：分")
    paid_on: date = Field(description="拨付日期（北京时间）")
    policy_version: int
    payment_id: uuid.UUID


class AssessmentRead(BaseModel):
    """Why an enterprise is (not) entitled under one policy, in Chinese, with the data used."""

    uscc: str
    policy_id: str
    policy_version: int
    policy_title: str
    legal_basis: str
    clause: str
    eligible: bool
    summary: str
    checks: list[CheckRead]
    awards: list[AwardRead] = Field(description="仍可兑现的奖励（已拨付的不再列出）")
    facts: list[FactUsedRead] = Field(description="参与比对的部门数据")
    history: list[PriorAwardRead] = Field(description="本政策已拨付记录")
