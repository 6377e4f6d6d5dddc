from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mianshen_shared.money import format_yuan
from payment.models import (
    ExecutionInstruction,
    NoticeObjection,
    Payment,
    RecoveryCase,
    RecoveryCaseEntry,
    RecoveryRepayment,
)

STATUS_TEXT = {
    "pending": "待支付",
    "submitted": "支付中",
    "unknown": "支付结果确认中",
    "succeeded": "已兑现",
    "failed": "支付失败",
    "held": "暂缓兑现（信用核查未通过）",
    "returned": "已退回（银行退票）",
}


class PayeeRead(BaseModel):
    account_name: str
    account_number_masked: str
    bank_name: str


class PaymentRead(BaseModel):
    payment_id: uuid.UUID
    entitlement_id: uuid.UUID
    uscc: str
    enterprise_name: str | None
    policy_id: str
    policy_version: int
    amount_fen: int
    amount_text: str
    payee: PayeeRead | None
    status: str
    status_text: str
    idempotency_key: str
    attempts: int
    finance_reference: str | None
    failure_code: str | None
    failure_reason: str | None
    hold_reasons: list[dict[str, Any]]
    issued_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, payment: Payment) -> PaymentRead:
        return cls(
            payment_id=payment.payment_id,
            entitlement_id=payment.entitlement_id,
            uscc=payment.uscc,
            enterprise_name=payment.enterprise_name,
            policy_id=payment.policy_id,
            policy_version=payment.policy_version,
            amount_fen=payment.amount_fen,
            amount_text=format_yuan(payment.amount_fen),
            # Only the masked number is ever shown; the sealed one never leaves the service.
            payee=PayeeRead(
                account_name=payment.payee_name,
                account_number_masked=payment.payee_account_masked,
                bank_name=payment.payee_bank_name or "",
            )
            if payment.payee_name and payment.payee_account_masked
            else None,
            status=payment.status,
            status_text=STATUS_TEXT.get(payment.status, payment.status),
            idempotency_key=payment.idempotency_key,
            attempts=payment.attempts,
            finance_reference=payment.finance_reference,
            failure_code=payment.failure_code,
            failure_reason=payment.failure_reason,
            hold_reasons=payment.hold_reasons,
            issued_at=payment.issued_at,
            created_at=payment.created_at,
            updated_at=payment.updated_at,
        )


# --- non-cash instructions and 回头看 recovery cases (instructions.py, recovery.py) ---

INSTRUCTION_STATUS_TEXT = {
    "held": "暂缓下达（信用核查未通过）",
    "issued": "已通知实施部门，待办理减免",
    "acknowledged": "已办理减免",
    "refused": "实施部门未予办理，待复核",
    "cancelled": "已撤销",
}
_REFERENCE = r"^[A-Za-z0-9][A-Za-z0-9._/()（）-]{0,99}$"


class InstructionAcknowledgement(BaseModel):
    """实施部门的办理回执。"""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reference: str = Field(min_length=1, max_length=100, pattern=_REFERENCE, description="实施部门的办理编号")
    executed_on: date = Field(description="减免实施日期（Asia/Shanghai）")
    amount_fen: int = Field(ge=0, description="实际减免金额（分），须与指令金额一致")
    note: str | None = Field(default=None, max_length=500, description="备注")


class InstructionRefusal(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500, description="未予办理的原因")


class InstructionRead(BaseModel):
    """减免指令。"""

    instruction_id: uuid.UUID
    entitlement_id: uuid.UUID
    acceptance_id: uuid.UUID
    uscc: str
    enterprise_name: str | None
    policy_id: str
    policy_version: int
    benefit_kind: str
    amount_fen: int
    amount_text: str
    executing_department: str
    status: str
    status_text: str
    hold_reasons: list[dict[str, Any]]
    reference: str | None
    executed_on: date | None
    note: str | None
    refusal_reason: str | None
    cancel_reason: str | None
    issued_at: datetime | None
    answered_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, instruction: ExecutionInstruction) -> InstructionRead:
        return cls(
            instruction_id=instruction.instruction_id,
            entitlement_id=instruction.entitlement_id,
            acceptance_id=instruction.acceptance_id,
            uscc=instruction.uscc,
            enterprise_name=instruction.enterprise_name,
            policy_id=instruction.policy_id,
            policy_version=instruction.policy_version,
            benefit_kind=instruction.benefit_kind,
            amount_fen=instruction.amount_fen,
            amount_text=format_yuan(instruction.amount_fen),
            executing_department=instruction.executing_department,
            status=instruction.status,
            status_text=INSTRUCTION_STATUS_TEXT.get(instruction.status, instruction.status),
            hold_reasons=instruction.hold_reasons,
            reference=instruction.reference,
            executed_on=instruction.executed_on,
            note=instruction.note,
            refusal_reason=instruction.refusal_reason,
            cancel_reason=instruction.cancel_reason,
            issued_at=instruction.issued_at,
            answered_at=instruction.answered_at,
            created_at=instruction.created_at,
            updated_at=instruction.updated_at,
        )


class RecoveryProposal(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: Literal["recover", "waive"] = Field(description="recover 追回 / waive 免于追回")
    reason: str = Field(min_length=1, max_length=1000, description="理由")


class RecoveryDecision(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=1000, description="审核意见")


class RepaymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    amount_fen: int = Field(gt=0, description="退回金额（分）")
    received_on: date = Field(description="到账日期（Asia/Shanghai）")
    reference: str = Field(min_length=1, max_length=100, pattern=_REFERENCE, description="银行回款流水号")


class RecoveryEntryRead(BaseModel):
    action: str
    actor: str
    reason: str
    detail: dict[str, Any]
    at: datetime


class RepaymentRead(BaseModel):
    reference: str
    amount_fen: int
    received_on: date
    recorded_by: str
    journal_id: str | None
    recorded_at: datetime


class RecoveryCaseRead(BaseModel):
    """回头看追回案件（经办人员视图）。"""

    case_id: uuid.UUID
    entitlement_id: uuid.UUID
    payment_id: uuid.UUID
    uscc: str
    enterprise_name: str | None
    policy_id: str
    policy_version: int
    award_key: str
    paid_fen: int
    due_fen: int
    overpaid_fen: int
    overpaid_text: str
    recovered_fen: int
    reason: str
    explanation: dict[str, Any] | None
    status: str
    status_text: str
    proposed_action: str | None
    proposed_by: str | None
    decided_by: str | None
    detected_at: datetime
    created_at: datetime
    updated_at: datetime
    history: list[RecoveryEntryRead] = Field(default_factory=list)
    repayments: list[RepaymentRead] = Field(default_factory=list)

    @classmethod
    def of(
        cls,
        case: RecoveryCase,
        status_text: str,
        history: Sequence[RecoveryCaseEntry] = (),
        repayments: Sequence[RecoveryRepayment] = (),
    ) -> RecoveryCaseRead:
        return cls(
            case_id=case.case_id,
            entitlement_id=case.entitlement_id,
            payment_id=case.payment_id,
            uscc=case.uscc,
            enterprise_name=case.enterprise_name,
            policy_id=case.policy_id,
            policy_version=case.policy_version,
            award_key=case.award_key,
            paid_fen=case.paid_fen,
            due_fen=case.due_fen,
            overpaid_fen=case.overpaid_fen,
            overpaid_text=format_yuan(case.overpaid_fen),
            recovered_fen=case.recovered_fen,
            reason=case.reason,
            explanation=case.explanation,
            status=case.status,
            status_text=status_text,
            proposed_action=case.proposed_action,
            proposed_by=case.proposed_by,
            decided_by=case.decided_by,
            detected_at=case.detected_at,
            created_at=case.created_at,
            updated_at=case.updated_at,
            history=[
                RecoveryEntryRead(action=e.action, actor=e.actor, reason=e.reason, detail=e.detail, at=e.at)
                for e in history
            ],
            repayments=[
                RepaymentRead(
                    reference=r.reference,
                    amount_fen=r.amount_fen,
                    received_on=r.received_on,
                    recorded_by=r.recorded_by,
                    journal_id=r.journal_id,
                    recorded_at=r.recorded_at,
                )
                for r in repayments
            ],
        )


class EnterpriseRecoveryCaseRead(BaseModel):
    """企业看到的追回案件：为何多付、多付多少、处理到哪一步（不含经办人员）。"""

    case_id: uuid.UUID
    entitlement_id: uuid.UUID
    policy_id: str
    award_key: str
    paid_fen: int
    due_fen: int
    overpaid_fen: int
    overpaid_text: str
    recovered_fen: int
    reason: str
    explanation: dict[str, Any] | None
    status: str
    status_text: str
    detected_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, case: RecoveryCase, status_text: str) -> EnterpriseRecoveryCaseRead:
        return cls(
            case_id=case.case_id,
            entitlement_id=case.entitlement_id,
            policy_id=case.policy_id,
            award_key=case.award_key,
            paid_fen=case.paid_fen,
            due_fen=case.due_fen,
            overpaid_fen=case.overpaid_fen,
            overpaid_text=format_yuan(case.overpaid_fen),
            recovered_fen=case.recovered_fen,
            reason=case.reason,
            explanation=case.explanation,
            status=case.status,
            status_text=status_text,
            detected_at=case.detected_at,
            updated_at=case.updated_at,
        )


# --- 公示 and objections (notice.py, routes_notice.py) ---


class NoticeEntryRead(BaseModel):
    """One line of a public notice (公示): who is to be paid how much under which policy.
    Deliberately no bank data and no explanation of the amount."""

    payment_id: uuid.UUID
    batch: str
    policy_id: str
    policy_title: str | None
    enterprise_name: str | None
    uscc: str
    amount_fen: int
    amount_text: str
    notice_starts_on: date = Field(description="公示起始日（进入公示的次一工作日起算）")
    notice_until: date = Field(description="公示截止日（含当日）")
    open_for_objection: bool


class NoticePage(BaseModel):
    items: list[NoticeEntryRead]
    total: int
    limit: int
    offset: int


class NoticeBatchRead(BaseModel):
    batch: str
    policy_id: str
    policy_title: str | None
    started_on: date = Field(description="进入公示的日期（Asia/Shanghai）")
    until: date = Field(description="本批最晚的公示截止日")
    count: int
    total_fen: int
    total_text: str


class ObjectionCreate(BaseModel):
    """对公示对象提出异议（任何人均可，公示期内）。"""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=10, max_length=500, description="异议理由（10至500字）")
    contact: str | None = Field(default=None, max_length=100, description="联系方式（选填，仅经办人员可见）")


class ObjectionReceipt(BaseModel):
    objection_id: uuid.UUID
    payment_id: uuid.UUID
    status: str
    raised_at: datetime


class ObjectionDecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: Literal["uphold", "dismiss"] = Field(description="uphold 异议成立（撤销兑现）/ dismiss 异议不成立")
    reason: str = Field(min_length=1, max_length=1000, description="核实情况与处理意见")


class ObjectionRead(BaseModel):
    """异议及其处理（经办人员视图）。"""

    objection_id: uuid.UUID
    payment_id: uuid.UUID
    uscc: str
    enterprise_name: str | None
    policy_id: str
    amount_fen: int
    amount_text: str
    notice_until: date | None
    payment_stage: str | None
    reason: str
    contact: str | None
    status: str
    raised_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None

    @classmethod
    def of(cls, objection: NoticeObjection, payment: Payment) -> ObjectionRead:
        return cls(
            objection_id=objection.objection_id,
            payment_id=payment.payment_id,
            uscc=payment.uscc,
            enterprise_name=payment.enterprise_name,
            policy_id=payment.policy_id,
            amount_fen=payment.amount_fen,
            amount_text=format_yuan(payment.amount_fen),
            notice_until=payment.notice_until,
            payment_stage=payment.stage,
            reason=objection.reason,
            contact=objection.contact,
            status=objection.status,
            raised_at=objection.raised_at,
            decided_by=objection.decided_by,
            decided_at=objection.decided_at,
            decision_reason=objection.decision_reason,
        )
