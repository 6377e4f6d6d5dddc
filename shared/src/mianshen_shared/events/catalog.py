"""Every event type on the platform: its payload model, topic and version.

Each payload is owned by the service that produces it (named in `EventSpec.producer`);
the models live here so producers and consumers share one definition, and the
recorded examples in `tests/contract/examples/` pin them down.
Commands would be imperative; these are events, so they are named in the past tense.
"""

from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mianshen_shared import uscc as uscc_rules
from mianshen_shared.events.envelope import Envelope, InvalidEvent
from mianshen_shared.money import Fen

# cash_award / refund are paid by the finance system; fee_reduction / rent_reduction
# are granted by a third party (a fee collector, a state-owned lessor) on instruction.
BenefitKind = Literal["cash_award", "refund", "fee_reduction", "rent_reduction"]
NON_CASH_BENEFITS: frozenset[str] = frozenset({"fee_reduction", "rent_reduction"})


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _HasUSCC(Payload):
    uscc: str = Field(description="统一社会信用代码")

    @field_validator("uscc")
    @classmethod
    def _valid_uscc(cls, value: str) -> str:
        return uscc_rules.validate(value)


# --- department data (数据比对 input) -----------------------------------------


class DepartmentRecordSubmitted(_HasUSCC):
    """A department shared one data record about an enterprise (or revoked one)."""

    record_id: str = Field(min_length=1, max_length=128, description="来源系统中的唯一记录编号")
    department: str = Field(min_length=1, max_length=64)
    enterprise_name: str | None = Field(default=None, max_length=200)
    record_type: str = Field(min_length=1, max_length=120)
    effective_date: date
    attributes: dict[str, Any] = Field(default_factory=dict)
    action: Literal["upsert", "revoke"] = "upsert"
    received_at: datetime


# --- policy catalogue ---------------------------------------------------------


class PolicyPublished(Payload):
    policy_id: str
    version: int = Field(ge=1)
    title: str
    document: dict[str, Any]
    published_at: datetime
    effective_from: date | None = Field(
        default=None, description="本版本生效日期（Asia/Shanghai）：自该日起取代上一版本；未载明时即时生效"
    )


class PolicyRetired(Payload):
    policy_id: str
    version: int = Field(ge=1)
    retired_at: datetime
    reason: str


# --- 数据比对: eligibility ----------------------------------------------------


class FactUsed(Payload):
    record_id: str
    department: str
    record_type: str
    effective_date: date
    attributes: dict[str, Any]


class ConditionChecked(Payload):
    """One condition the rule engine tested, in Chinese, and its outcome (None: a note)."""

    text: str
    met: bool | None = None


class Explanation(Payload):
    """Why this amount: the policy version, the clause, the rule, the facts."""

    policy_id: str
    policy_version: int
    legal_basis: str
    clause: str
    rule: str = Field(description="the award rule that applied, in the policy's own words")
    computation: str = Field(description="how the amount was computed, in Chinese")
    facts: list[FactUsed]
    conditions: list[ConditionChecked] = Field(
        default_factory=list, description="each condition tested and its outcome, in Chinese"
    )


class EntitlementDetermined(_HasUSCC):
    entitlement_id: uuid.UUID
    enterprise_name: str | None = None
    policy_id: str
    policy_version: int
    policy_title: str
    award_key: str = Field(description="what the award is for within the policy, e.g. a year")
    change: Literal["new", "changed", "withdrawn"]
    amount_fen: Fen
    previous_amount_fen: Fen | None = None
    benefit_kind: BenefitKind
    explanation: Explanation
    determined_at: datetime
    confirmation_days: int | None = Field(
        default=None, ge=1, le=365, description="意愿确认期限（自然日），取自政策；未载明时按30日"
    )


class EntitlementOverpaid(_HasUSCC):
    """回头看: facts behind a paid entitlement were corrected or revoked, and the
    policy now owes less than was paid. Opens a recovery case; nothing is clawed
    back without an operator's decision."""

    entitlement_id: uuid.UUID
    enterprise_name: str | None = None
    policy_id: str
    policy_version: int
    award_key: str
    paid_fen: Fen
    due_fen: Fen = Field(description="按更正后的数据应得金额")
    explanation: Explanation | None = Field(default=None, description="更正后的判定依据；资格不再成立时为空")
    reason: str = Field(description="为何应得金额减少，中文")
    detected_at: datetime


# --- 意愿确认: confirmation --------------------------------------------------


class BankAccount(Payload):
    """An account as the enterprise enters it (API input only; never put on a topic)."""

    account_name: str = Field(min_length=1, max_length=200)
    account_number: str = Field(pattern=r"^[0-9]{8,32}$")
    bank_name: str = Field(min_length=1, max_length=200)


class SealedBankAccount(Payload):
    """A bank account as it travels between services: the number only sealed
    (mianshen_shared.sealing, key from configuration) and masked for display."""

    account_name: str = Field(min_length=1, max_length=200)
    account_number_masked: str = Field(min_length=4, max_length=40, description="如 6222****4567")
    account_number_sealed: str = Field(pattern=r"^v1\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]+$")
    bank_name: str = Field(min_length=1, max_length=200)


class ConfirmationRequested(_HasUSCC):
    confirmation_id: uuid.UUID
    entitlement_id: uuid.UUID
    policy_id: str
    policy_title: str
    amount_fen: Fen
    deadline: date


class ConfirmationAccepted(_HasUSCC):
    confirmation_id: uuid.UUID
    # New for every acceptance: an enterprise that declines and accepts again
    # (allowed until the payment is submitted) produces a second acceptance.
    acceptance_id: uuid.UUID
    entitlement_id: uuid.UUID
    enterprise_name: str | None = None
    policy_id: str
    policy_version: int
    amount_fen: Fen
    benefit_kind: BenefitKind = "cash_award"
    bank_account: SealedBankAccount | None = Field(default=None, description="非现金类（减免）为空")
    accepted_at: datetime


class ConfirmationRevoked(_HasUSCC):
    """The enterprise changed its mind after accepting, before the payment was submitted."""

    confirmation_id: uuid.UUID
    acceptance_id: uuid.UUID
    entitlement_id: uuid.UUID
    reason: str
    revoked_at: datetime


class ConfirmationDeclined(_HasUSCC):
    confirmation_id: uuid.UUID
    entitlement_id: uuid.UUID
    reason: str
    declined_at: datetime


class ConfirmationClosed(_HasUSCC):
    """An open request closed without the enterprise's answer (entitlement withdrawn)."""

    confirmation_id: uuid.UUID
    entitlement_id: uuid.UUID
    reason: str
    closed_at: datetime


# --- 守信激励、失信惩戒: credit-check -----------------------------------------


class CreditRecordRef(Payload):
    record_id: str
    list_type: str
    department: str
    effective_date: date
    expires_on: date | None = None


class CreditAssessed(_HasUSCC):
    """The credit gate's decision for one accepted entitlement, with what it rested on."""

    assessment_id: uuid.UUID
    confirmation_id: uuid.UUID
    acceptance_id: uuid.UUID
    entitlement_id: uuid.UUID
    enterprise_name: str | None = None
    policy_id: str
    policy_version: int
    amount_fen: Fen
    benefit_kind: BenefitKind = "cash_award"
    bank_account: SealedBankAccount | None = None
    decision: Literal["cleared", "held"]
    reasons: list[CreditRecordRef] = Field(default_factory=list, description="暂缓所依据的失信记录")
    red_records: list[CreditRecordRef] = Field(
        default_factory=list, description="守信激励：有效的红名单记录（政策载明时可缩短公示期）"
    )
    assessed_at: datetime


class CreditStandingChanged(_HasUSCC):
    """An enterprise's credit records changed (a record listed, corrected or removed).

    Carries every record in force or scheduled, with validity dates, so a consumer
    keeps a replica and decides by date itself: a record past `expires_on` no
    longer counts, without waiting for another event."""

    black_records: list[CreditRecordRef] = Field(default_factory=list)
    red_records: list[CreditRecordRef] = Field(default_factory=list)
    changed_at: datetime


# --- 政策兑现: payment ---------------------------------------------------------


class PaymentIssued(_HasUSCC):
    payment_id: uuid.UUID
    entitlement_id: uuid.UUID
    policy_id: str
    amount_fen: Fen
    idempotency_key: str
    finance_reference: str
    issued_at: datetime


class PaymentFailed(_HasUSCC):
    payment_id: uuid.UUID
    entitlement_id: uuid.UUID
    policy_id: str
    amount_fen: Fen
    idempotency_key: str
    reason_code: str
    reason: str
    failed_at: datetime


PaymentStage = Literal[
    "in_notice",  # 公示中
    "objected",  # 公示期内有异议，待处理
    "pending",  # 待提交财政
    "credit_held",  # 提交前信用复核：失信暂缓
    "budget_exhausted",  # 预算额度不足，待追加
    "submitted",  # 已提交财政（此后不可撤回）
    "cancelled",  # 企业撤回，未提交即取消
    "withdrawn",  # 异议成立，资格撤回
]


class PaymentProgressed(_HasUSCC):
    """Where an accepted entitlement stands on its way to the money (every stage
    change before the final payment.issued / payment.failed), with the reason."""

    payment_id: uuid.UUID
    entitlement_id: uuid.UUID
    policy_id: str
    amount_fen: Fen
    stage: PaymentStage
    reason_code: str | None = None
    reason: str | None = Field(default=None, description="中文说明，展示给企业")
    until: date | None = Field(default=None, description="公示截止日等")
    progressed_at: datetime


class BenefitExecuted(_HasUSCC):
    """A non-cash benefit (减免) carried out by its executing party, who acknowledged the instruction."""

    instruction_id: uuid.UUID
    entitlement_id: uuid.UUID
    policy_id: str
    amount_fen: Fen = Field(description="减免金额")
    executed_by: str = Field(description="实施主体（部门编码）")
    reference: str = Field(description="实施主体的办理编号")
    executed_at: datetime


# --- the registry -------------------------------------------------------------


@dataclass(frozen=True)
class EventSpec:
    type: str
    version: int
    topic: str  # logical topic name; see mianshen_shared.topics
    producer: str
    model: builtins.type[Payload]  # `type` is a field name here


EVENTS: dict[str, EventSpec] = {
    spec.type: spec
    for spec in (
        EventSpec("department.record.submitted", 1, "department-records", "gateway", DepartmentRecordSubmitted),
        EventSpec("policy.published", 1, "policies", "policy-catalog", PolicyPublished),
        EventSpec("policy.retired", 1, "policies", "policy-catalog", PolicyRetired),
        EventSpec("entitlement.determined", 1, "entitlements", "eligibility", EntitlementDetermined),
        EventSpec("entitlement.overpaid", 1, "entitlements", "eligibility", EntitlementOverpaid),
        EventSpec("confirmation.requested", 1, "confirmations", "confirmation", ConfirmationRequested),
        EventSpec("confirmation.accepted", 1, "confirmations", "confirmation", ConfirmationAccepted),
        EventSpec("confirmation.declined", 1, "confirmations", "confirmation", ConfirmationDeclined),
        EventSpec("confirmation.closed", 1, "confirmations", "confirmation", ConfirmationClosed),
        EventSpec("confirmation.revoked", 1, "confirmations", "confirmation", ConfirmationRevoked),
        EventSpec("credit.assessed", 1, "credit-assessments", "credit-check", CreditAssessed),
        EventSpec("credit.standing_changed", 1, "credit-assessments", "credit-check", CreditStandingChanged),
        EventSpec("payment.issued", 1, "payments", "payment", PaymentIssued),
        EventSpec("payment.failed", 1, "payments", "payment", PaymentFailed),
        EventSpec("payment.progressed", 1, "payments", "payment", PaymentProgressed),
        EventSpec("benefit.executed", 1, "payments", "payment", BenefitExecuted),
    )
}
PAYLOAD_TYPES: dict[type[Payload], EventSpec] = {spec.model: spec for spec in EVENTS.values()}


def spec_for(payload: Payload) -> EventSpec:
    return PAYLOAD_TYPES[type(payload)]


def parse_payload(envelope: Envelope) -> Payload:
    """Validate `data` against the model registered for the envelope's type and version."""
    spec = EVENTS.get(envelope.type)
    if spec is None:
        raise InvalidEvent("unknown_event_type", f"未知的事件类型：{envelope.type}")
    if envelope.dataversion != spec.version:
        raise InvalidEvent(
            "unsupported_event_version",
            f"事件 {envelope.type} 的版本 {envelope.dataversion} 不受支持（支持 {spec.version}）",
        )
    try:
        return spec.model.model_validate(envelope.data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        raise InvalidEvent("invalid_payload", f"事件 {envelope.type} 的数据不合法：{where}: {err['msg']}") from exc


def make_envelope(payload: Payload, *, source: str, subject: str, correlation_id: str) -> Envelope:
    spec = spec_for(payload)
    return Envelope(
        type=spec.type,
        dataversion=spec.version,
        source=source,
        subject=subject,
        correlationid=correlation_id,
        data=payload.model_dump(mode="json"),
    )
