"""The gateway's API models.

Request models forbid unknown fields. Response models of proxied routes mirror
what the services return and allow extra fields, so a service can add a field
without the gateway's contract breaking; the gateway passes bodies through.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

import mianshen_shared.uscc as uscc_rules

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def chinese_error(code: str, message: str) -> PydanticCustomError:
    """A validation error whose Chinese message travels in ctx["zh"]."""
    return PydanticCustomError(code, "{zh}", {"zh": message})


# --- problem details ------------------------------------------------------------


class FieldError(BaseModel):
    model_config = ConfigDict(extra="allow")

    field: str = Field(description="出错的字段路径")
    code: str = Field(description="稳定的英文错误码")
    message: str = Field(description="中文说明")


class RecordError(FieldError):
    index: int | None = Field(description="记录在 records 中的下标（从0开始）；整批错误时为空")
    record_id: str | None = Field(description="记录编号（若可读出）")


class Problem(BaseModel):
    """RFC 9457 problem details (application/problem+json)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    code: str = Field(description="稳定的英文错误码")
    detail: str = Field(description="中文说明")
    instance: str | None = None
    request_id: str | None = None
    errors: list[RecordError | FieldError] | None = None


# --- department data --------------------------------------------------------------


class DepartmentRecordIn(BaseModel):
    """One record a department shares about an enterprise (or revokes)."""

    model_config = ConfigDict(extra="forbid")

    record_id: str = Field(min_length=1, max_length=128, description="来源系统中的唯一记录编号")
    department: str = Field(min_length=1, max_length=64, description="报送部门代码，如 gxj")
    uscc: str = Field(description="统一社会信用代码", examples=["91410105MA9DEM0100"])
    enterprise_name: str | None = Field(default=None, max_length=200)
    record_type: str = Field(min_length=1, max_length=120, description="记录类型，如 miit.sme_title_recognized")
    effective_date: date = Field(description="生效日期（YYYY-MM-DD，北京时间）")
    attributes: dict[str, Any] = Field(description="按记录类型的 JSON Schema 校验的属性")
    action: Literal["upsert", "revoke"] = "upsert"

    @field_validator("uscc")
    @classmethod
    def _valid_uscc(cls, value: str) -> str:
        try:
            return uscc_rules.validate(value)
        except uscc_rules.InvalidUSCC as exc:
            raise chinese_error(exc.reason, exc.message) from exc

    @field_validator("effective_date", mode="before")
    @classmethod
    def _calendar_date_only(cls, value: Any) -> Any:
        # Lax pydantic would take timestamps and datetimes; the law counts calendar days.
        if not isinstance(value, str) or not _ISO_DATE.match(value):
            raise chinese_error("date_format", "日期格式应为YYYY-MM-DD")
        return value


class DataEventBatch(BaseModel):
    """A batch of department records: all are accepted, or none."""

    model_config = ConfigDict(extra="forbid")

    records: list[DepartmentRecordIn] = Field(
        min_length=1, description="1 至 max_batch_records 条（默认500）；记录编号在批内不得重复"
    )


class DataEventsAccepted(BaseModel):
    accepted: int = Field(description="已写入消息队列并获确认的记录数")
    record_ids: list[str]
    correlation_id: str


# --- 意愿确认 requests -----------------------------------------------------------


class BankAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    account_name: str = Field(min_length=1, max_length=200, description="收款户名")
    account_number: str = Field(pattern=r"^[0-9]{8,32}$", description="收款账号（8至32位数字）")
    bank_name: str = Field(min_length=1, max_length=200, description="开户行")


class ConfirmationAccept(BaseModel):
    """The enterprise confirms it wants the benefit. A cash benefit needs an account:
    a new one or one of its saved accounts; a reduction (减免) takes neither."""

    model_config = ConfigDict(extra="forbid")

    bank_account: BankAccountIn | None = Field(default=None, description="新的收款账户")
    reuse_account_id: uuid.UUID | None = Field(default=None, description="使用已保存的收款账户（其编号）")

    @model_validator(mode="after")
    def _one_account(self) -> ConfirmationAccept:
        if self.bank_account is not None and self.reuse_account_id is not None:
            raise ValueError("bank_account 与 reuse_account_id 只能提供其一")
        return self


class ConfirmationDecline(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500, description="放弃原因")


class PolicyPublish(BaseModel):
    model_config = ConfigDict(extra="forbid")

    effective_from: date | None = Field(default=None, description="新版本施行日期；缺省为今天或政策起始日中较晚者")


class TransitionReason(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500, description="原因")


class ReevaluationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$", description="要重新比对的政策编号")


# --- mirrors of the services' responses -------------------------------------------


class _Mirrored(BaseModel):
    model_config = ConfigDict(extra="allow")


class LegalBasisRead(_Mirrored):
    title: str
    number: str


class PolicySummaryRead(_Mirrored):
    policy_id: str
    version: int
    title: str
    batch: str | None = None
    list_no: int | None = None
    lead_department: str | None = None
    legal_basis: LegalBasisRead | None = None
    benefit_kind: str | None = None
    effective_from: date | None = None
    effective_to: date | None = None


class PolicyRead(PolicySummaryRead):
    status: str | None = None
    published_at: datetime | None = None
    retired_at: datetime | None = None
    document: dict[str, Any] | None = None


class BankAccountMaskedRead(_Mirrored):
    account_name: str
    account_number: str = Field(description="脱敏后的银行账号")
    bank_name: str


class ConfirmationSummaryRead(_Mirrored):
    """意愿确认 — one request to the enterprise, as listed."""

    confirmation_id: uuid.UUID
    entitlement_id: uuid.UUID
    policy_id: str | None = None
    policy_title: str | None = None
    amount_fen: int = Field(description="金额（分）")
    deadline: date | None = Field(default=None, description="确认截止日期")
    status: str = Field(description="如 pending、accepted、declined、closed")


class ConfirmationRead(ConfirmationSummaryRead):
    bank_account: BankAccountMaskedRead | None = None
    decline_reason: str | None = None
    close_reason: str | None = None
    answered_at: datetime | None = None
    created_at: datetime | None = None


class ConfirmationList(_Mirrored):
    items: list[ConfirmationSummaryRead]


class StatusEventRead(_Mirrored):
    status: str
    kind: str | None = None
    note: str | None = Field(default=None, description="中文说明")
    details: dict[str, Any] | None = None
    occurred_at: datetime


class EntitlementSummaryRead(_Mirrored):
    """One entitlement as the enterprise sees it, from determination to payment."""

    entitlement_id: uuid.UUID
    policy_id: str
    policy_title: str | None = None
    policy_version: int | None = None
    award_key: str | None = None
    amount_fen: int = Field(description="金额（分）")
    status: str = Field(
        description="awaiting_confirmation、accepted、declined、credit_held、awaiting_payment、paid、payment_failed、withdrawn"
    )
    status_text: str | None = Field(default=None, description="状态的中文说明，供前端展示")
    updated_at: datetime | None = None


class EntitlementRead(EntitlementSummaryRead):
    uscc: str | None = None
    enterprise_name: str | None = None
    benefit_kind: str | None = None
    explanation: dict[str, Any] | None = Field(default=None, description="政策依据、条款、计算过程与所用数据")
    determined_at: datetime | None = None
    payment_id: uuid.UUID | None = None
    finance_reference: str | None = None
    confirmation: ConfirmationRead | None = None
    history: list[StatusEventRead] = Field(default_factory=list)


class EntitlementList(_Mirrored):
    items: list[EntitlementSummaryRead]


class PayeeRead(_Mirrored):
    account_name: str
    account_number_masked: str
    bank_name: str


class PaymentRead(_Mirrored):
    """政策兑现 — one payment instruction and its outcome."""

    payment_id: uuid.UUID
    entitlement_id: uuid.UUID
    uscc: str | None = None
    enterprise_name: str | None = None
    policy_id: str | None = None
    policy_version: int | None = None
    amount_fen: int = Field(description="金额（分）")
    amount_text: str | None = None
    payee: PayeeRead | None = None
    status: str
    status_text: str | None = None
    finance_reference: str | None = None
    failure_code: str | None = None
    failure_reason: str | None = None
    hold_reasons: list[dict[str, Any]] = Field(default_factory=list)
    issued_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DeterminationRead(_Mirrored):
    """数据比对 — one determination of the eligibility service."""

    entitlement_id: uuid.UUID
    policy_id: str
    policy_version: int | None = None
    policy_title: str | None = None
    benefit_kind: str | None = None
    award_key: str | None = None
    amount_fen: int = Field(description="金额（分）；已撤回的认定为0")
    status: str | None = Field(default=None, description="active 或 withdrawn")
    explanation: dict[str, Any] | None = None
    determined_at: datetime | None = None
    paid_fen: int | None = Field(default=None, description="已兑现金额（分）；未兑现为空")
    settled_at: datetime | None = None


class PolicyVersionDetailRead(_Mirrored):
    """One version of a policy with its lifecycle: who edited, submitted, published it."""

    policy_id: str
    version: int
    status: str = Field(description="draft / submitted / published / retired")
    title: str | None = None
    document: dict[str, Any] | None = None


class TransitionRead(_Mirrored):
    action: str
    from_status: str | None = None
    to_status: str
    actor: str
    at: datetime
    reason: str | None = None


class ReevaluationRead(_Mirrored):
    """重新比对任务 — progress of re-evaluating every enterprise under one policy."""

    job_id: uuid.UUID
    policy_id: str
    status: str
    status_text: str | None = None
    total: int | None = None
    done: int | None = None
    determinations: int | None = None


class ReevaluationPage(_Mirrored):
    items: list[ReevaluationRead]
    total: int
    limit: int
    offset: int


class PerformanceRead(_Mirrored):
    """绩效评估 — per policy and period: matched, confirmed, paid, amounts, days, take-up, stuck."""

    period: dict[str, Any]
    policies: list[dict[str, Any]]
    total: dict[str, Any]
    stuck: list[dict[str, Any]] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class FeedOverviewRead(_Mirrored):
    """各部门数据推送情况 — last arrival, volume against rhythm, rejections, schedule status."""

    as_of: datetime
    items: list[dict[str, Any]]


class FeedOverdueRead(_Mirrored):
    """通报清单 — departments overdue against their agreed schedule."""

    as_of: datetime
    summary: str
    items: list[dict[str, Any]]


class FeedDepartmentRead(_Mirrored):
    department: str
    name: str | None = None
    days: list[dict[str, Any]] = Field(default_factory=list)


class CheckRead(_Mirrored):
    text: str = Field(description="检查项（中文）")
    met: bool | None = Field(default=None, description="是否满足；说明性条目为空")


class AwardRead(_Mirrored):
    award_key: str
    amount_fen: int
    explanation: dict[str, Any]


class PriorAwardRead(_Mirrored):
    award_key: str
    amount_fen: int
    paid_on: date


class AssessmentRead(_Mirrored):
    """“为什么（不）符合？” — one policy applied to one enterprise, with the trace."""

    uscc: str
    policy_id: str
    policy_version: int
    policy_title: str
    legal_basis: str
    clause: str
    eligible: bool
    summary: str
    checks: list[CheckRead]
    awards: list[AwardRead]
    facts: list[dict[str, Any]] = Field(default_factory=list, description="所依据的部门数据")
    history: list[PriorAwardRead] = Field(default_factory=list, description="本政策已兑现的奖励")


class PolicyAmountRead(_Mirrored):
    policy_id: str
    policy_title: str | None = None
    amount_fen: int


class EligibilitySummaryRead(_Mirrored):
    uscc: str
    total_amount_fen: int | None = Field(default=None, description="比对所得总金额（分）")
    policies: list[PolicyAmountRead] = Field(default_factory=list)


class CreditRecordRead(_Mirrored):
    record_id: str
    record_type: str
    list_kind: str
    department: str
    effective_date: date
    expires_on: date | None = None
    revoked_at: datetime | None = None


class CreditAssessmentRead(_Mirrored):
    assessment_id: uuid.UUID
    confirmation_id: uuid.UUID
    entitlement_id: uuid.UUID
    decision: str = Field(description="cleared 或 held")
    assessed_at: datetime


class CreditStatusRead(_Mirrored):
    uscc: str
    listed: bool = Field(description="是否在失信名单中")
    active_records: list[CreditRecordRead]
    all_records: list[CreditRecordRead]
    assessments: list[CreditAssessmentRead]
