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


# --- 意愿确认: confirmation --------------------------------------------------


class BankAccount(Payload):
    account_name: str = Field(min_length=1, max_length=200)
    account_number: str = Field(pattern=r"^[0-9]{8,32}$")
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
    entitlement_id: uuid.UUID
    enterprise_name: str | None = None
    policy_id: str
    policy_version: int
    amount_fen: Fen
    bank_account: BankAccount
    accepted_at: datetime


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
    entitlement_id: uuid.UUID
    enterprise_name: str | None = None
    policy_id: str
    policy_version: int
    amount_fen: Fen
    bank_account: BankAccount
    decision: Literal["cleared", "held"]
    reasons: list[CreditRecordRef] = Field(default_factory=list)
    assessed_at: datetime


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
        EventSpec("confirmation.requested", 1, "confirmations", "confirmation", ConfirmationRequested),
        EventSpec("confirmation.accepted", 1, "confirmations", "confirmation", ConfirmationAccepted),
        EventSpec("confirmation.declined", 1, "confirmations", "confirmation", ConfirmationDeclined),
        EventSpec("confirmation.closed", 1, "confirmations", "confirmation", ConfirmationClosed),
        EventSpec("credit.assessed", 1, "credit-assessments", "credit-check", CreditAssessed),
        EventSpec("payment.issued", 1, "payments", "payment", PaymentIssued),
        EventSpec("payment.failed", 1, "payments", "payment", PaymentFailed),
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
