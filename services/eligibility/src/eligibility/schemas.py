from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from eligibility import supervision
from mianshen_shared.feed_schedules import FeedSchedule


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


# --- 数据共享督办 (feed supervision) ------------------------------------------------------


class FeedScheduleRead(BaseModel):
    every: str = Field(description="约定报送周期（ISO 8601，如 P1D、P7D、P1M）", examples=["P7D"])
    grace: str = Field(description="宽限期（ISO 8601）", examples=["P2D"])
    since: date | None = Field(description="约定生效日期（北京时间）；为空表示自始有效")
    allowed_gap_seconds: int = Field(description="两次报送之间允许的最长间隔（含宽限期，月按31天计），单位：秒")
    text: str = Field(description="约定的报送节奏（中文）")
    agreement: str = Field(description="数据共享约定原文")

    @classmethod
    def of(cls, schedule: FeedSchedule) -> FeedScheduleRead:
        return cls(
            every=schedule.every.iso(),
            grace=schedule.grace.iso(),
            since=schedule.since,
            allowed_gap_seconds=int(schedule.allowed_gap().total_seconds()),
            text=schedule.zh(),
            agreement=schedule.agreement,
        )


class FeedStatusRead(BaseModel):
    code: supervision.Status = Field(description="on_time / due_soon / overdue / never / unscheduled")
    label: str = Field(description="状态（中文）")
    text: str = Field(description="状态说明（中文）")
    due_at: datetime | None = Field(description="下次应报送的时间")
    deadline: datetime | None = Field(description="宽限期届满时间：此后未报送即为逾期")
    overdue_since: datetime | None
    overdue_seconds: int

    @classmethod
    def of(cls, status: supervision.FeedStatus) -> FeedStatusRead:
        return cls(
            code=status.status,
            label=supervision.STATUS_ZH[status.status],
            text=status.text,
            due_at=status.due_at,
            deadline=status.deadline,
            overdue_since=status.overdue_since,
            overdue_seconds=status.overdue_seconds,
        )


class FeedVolumeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    today: int = Field(description="今日（北京时间）已接收记录数")
    usual: int | None = Field(description="常规报送量：窗口期内有报送的各日记录数的中位数；报送日不足3天时为空")
    push_days: int = Field(description="窗口期内有报送的天数（不含今日）")
    window_days: int = Field(description="计算常规量的窗口期（天）")
    last_push_day: date | None
    last_push_records: int
    low: bool = Field(description="最近一个完整报送日的记录数不足常规量的一半")
    text: str


class FeedRead(BaseModel):
    """One department's data feed: when it last pushed, how much, what was refused, and
    where it stands against the agreed schedule."""

    department: str
    name: str
    last_arrival: UtcDatetime | None = Field(description="最近一条被接收记录的到达时间")
    accepted_7d: int = Field(description="近7天（含今日）接收记录数")
    accepted_30d: int
    rejected_7d: int = Field(description="近7天被拒收（转入死信）的记录数")
    rejected_30d: int
    rejected_by_reason_30d: dict[str, int] = Field(description="近30天按原因统计的拒收记录数")
    volume: FeedVolumeRead
    schedule: FeedScheduleRead | None
    status: FeedStatusRead

    @classmethod
    def of(cls, feed: supervision.FeedOverview) -> FeedRead:
        return cls(
            department=feed.department,
            name=feed.name,
            last_arrival=feed.last_arrival,
            accepted_7d=feed.accepted_7d,
            accepted_30d=feed.accepted_30d,
            rejected_7d=feed.rejected_7d,
            rejected_30d=feed.rejected_30d,
            rejected_by_reason_30d=feed.rejected_by_reason_30d,
            volume=FeedVolumeRead.model_validate(feed.volume),
            schedule=FeedScheduleRead.of(feed.schedule) if feed.schedule is not None else None,
            status=FeedStatusRead.of(feed.status),
        )


class FeedList(BaseModel):
    as_of: datetime
    items: list[FeedRead]


class OverdueFeedRead(BaseModel):
    """One line of the 通报: a department that has not shared its data as agreed."""

    department: str
    name: str
    status: supervision.Status = Field(description="overdue（逾期）或 never（从未报送）")
    label: str
    last_arrival: UtcDatetime | None
    overdue_since: datetime | None = Field(description="自何时起逾期；从未报送且无约定起始日时为空")
    overdue_days: int = Field(description="已逾期整天数")
    overdue_seconds: int
    text: str
    schedule: FeedScheduleRead

    @classmethod
    def of(cls, feed: supervision.FeedOverview) -> OverdueFeedRead:
        assert feed.schedule is not None, "only scheduled feeds can be overdue"
        return cls(
            department=feed.department,
            name=feed.name,
            status=feed.status.status,
            label=supervision.STATUS_ZH[feed.status.status],
            last_arrival=feed.last_arrival,
            overdue_since=feed.status.overdue_since,
            overdue_days=feed.status.overdue_seconds // 86400,
            overdue_seconds=feed.status.overdue_seconds,
            text=f"{feed.name}：{feed.status.text}",
            schedule=FeedScheduleRead.of(feed.schedule),
        )


class OverdueList(BaseModel):
    as_of: datetime
    summary: str = Field(description="通报摘要（中文）")
    items: list[OverdueFeedRead]


class FeedDayRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    day: date = Field(description="日期（北京时间）")
    accepted: int
    rejected: int
    accepted_by_record_type: dict[str, int]
    rejected_by_reason: dict[str, int]
    first_at: UtcDatetime | None = Field(description="当日首条被接收记录的到达时间")
    last_at: UtcDatetime | None


class FeedDetailRead(FeedRead):
    days: list[FeedDayRead] = Field(description=f"近{supervision.SERIES_DAYS}天逐日报送情况，由远及近")
