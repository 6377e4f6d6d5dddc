from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, Literal

from confirmation.service import AccountChoice
from mianshen_shared.events.catalog import (
    BankAccount,
    BenefitExecuted,
    CreditAssessed,
    CreditRecordRef,
    EntitlementDetermined,
    Explanation,
    FactUsed,
    PaymentFailed,
    PaymentIssued,
    PaymentProgressed,
    PaymentStage,
    SealedBankAccount,
)
from mianshen_shared.sealing import Sealer, mask_account_number

SEALER = Sealer.from_config("")

POLICY_ID = "zz-2022-02-specialized-sme-award"
POLICY_TITLE = "郑州市专精特新中小企业奖励"


def explanation(*, amount_fen: int = 50_000_000, policy_version: int = 1) -> Explanation:
    return Explanation(
        policy_id=POLICY_ID,
        policy_version=policy_version,
        legal_basis="郑政〔2022〕2号",
        clause="第三条第（一）项",
        rule="首次认定为省级专精特新中小企业的，给予一次性奖励",
        computation=f"一次性奖励 {amount_fen // 100} 元",
        facts=[
            FactUsed(
                record_id="industry-1",
                department="industry",
                record_type="industry.specialized_sme_recognition",
                effective_date=date(2022, 6, 1),
                attributes={"level": "provincial"},
            )
        ],
    )


def determination(
    uscc: str,
    *,
    entitlement_id: uuid.UUID | None = None,
    change: Literal["new", "changed", "withdrawn"] = "new",
    amount_fen: int = 50_000_000,
    previous_amount_fen: int | None = None,
    policy_version: int = 1,
    benefit_kind: Literal["cash_award", "refund", "fee_reduction", "rent_reduction"] = "cash_award",
    confirmation_days: int | None = None,
) -> EntitlementDetermined:
    return EntitlementDetermined(
        uscc=uscc,
        entitlement_id=entitlement_id or uuid.uuid4(),
        enterprise_name="郑州示例科技有限公司",
        policy_id=POLICY_ID,
        policy_version=policy_version,
        policy_title=POLICY_TITLE,
        award_key="2022",
        change=change,
        amount_fen=amount_fen,
        previous_amount_fen=previous_amount_fen,
        benefit_kind=benefit_kind,
        explanation=explanation(amount_fen=amount_fen, policy_version=policy_version),
        determined_at=datetime.now(UTC),
        confirmation_days=confirmation_days,
    )


def bank_account(account_number: str = "6222020200001234567") -> BankAccount:
    return BankAccount(
        account_name="郑州示例科技有限公司", account_number=account_number, bank_name="中国工商银行郑州分行"
    )


def sealed_account(account_number: str = "6222020200001234567") -> SealedBankAccount:
    return SealedBankAccount(
        account_name="郑州示例科技有限公司",
        account_number_masked=mask_account_number(account_number),
        account_number_sealed=SEALER.seal(account_number),
        bank_name="中国工商银行郑州分行",
    )


def credit_assessed(
    uscc: str,
    entitlement_id: uuid.UUID,
    *,
    confirmation_id: uuid.UUID | None = None,
    acceptance_id: uuid.UUID | None = None,
    decision: Literal["cleared", "held"] = "cleared",
    amount_fen: int = 50_000_000,
) -> CreditAssessed:
    reasons = (
        [
            CreditRecordRef(
                record_id="credit-77",
                list_type="credit.dishonest_judgment_debtor",
                department="credit",
                effective_date=date(2022, 1, 1),
            )
        ]
        if decision == "held"
        else []
    )
    return CreditAssessed(
        assessment_id=uuid.uuid4(),
        confirmation_id=confirmation_id or uuid.uuid4(),
        acceptance_id=acceptance_id or uuid.uuid4(),
        entitlement_id=entitlement_id,
        uscc=uscc,
        enterprise_name="郑州示例科技有限公司",
        policy_id=POLICY_ID,
        policy_version=1,
        amount_fen=amount_fen,
        bank_account=sealed_account(),
        decision=decision,
        reasons=reasons,
        assessed_at=datetime.now(UTC),
    )


def payment_issued(uscc: str, entitlement_id: uuid.UUID, *, amount_fen: int = 50_000_000) -> PaymentIssued:
    payment_id = uuid.uuid4()
    return PaymentIssued(
        payment_id=payment_id,
        entitlement_id=entitlement_id,
        uscc=uscc,
        policy_id=POLICY_ID,
        amount_fen=amount_fen,
        idempotency_key=f"pay-{payment_id}",
        finance_reference=f"ZZCZ-{payment_id.hex[:10].upper()}",
        issued_at=datetime.now(UTC),
    )


def payment_failed(uscc: str, entitlement_id: uuid.UUID, *, amount_fen: int = 50_000_000) -> PaymentFailed:
    payment_id = uuid.uuid4()
    return PaymentFailed(
        payment_id=payment_id,
        entitlement_id=entitlement_id,
        uscc=uscc,
        policy_id=POLICY_ID,
        amount_fen=amount_fen,
        idempotency_key=f"pay-{payment_id}",
        reason_code="account_closed",
        reason="收款账户已销户",
        failed_at=datetime.now(UTC),
    )


def payment_progressed(
    uscc: str,
    entitlement_id: uuid.UUID,
    stage: PaymentStage,
    *,
    until: date | None = None,
    reason: str | None = None,
    reason_code: str | None = None,
) -> PaymentProgressed:
    return PaymentProgressed(
        payment_id=uuid.uuid4(),
        entitlement_id=entitlement_id,
        uscc=uscc,
        policy_id=POLICY_ID,
        amount_fen=50_000_000,
        stage=stage,
        reason=reason,
        reason_code=reason_code,
        until=until,
        progressed_at=datetime.now(UTC),
    )


def benefit_executed(uscc: str, entitlement_id: uuid.UUID, *, amount_fen: int = 1_200_000) -> BenefitExecuted:
    return BenefitExecuted(
        instruction_id=uuid.uuid4(),
        entitlement_id=entitlement_id,
        uscc=uscc,
        policy_id=POLICY_ID,
        amount_fen=amount_fen,
        executed_by="gzw",
        reference="GZW-2026-0001",
        executed_at=datetime.now(UTC),
    )


def new_account(account_number: str = "6222020200001234567") -> dict[str, Any]:
    """The `account` and `sealer` arguments of service.accept for a newly entered account."""
    return {"account": AccountChoice(new=bank_account(account_number)), "sealer": SEALER}


def accepted_in(emit: Any, entitlement_id: uuid.UUID) -> uuid.UUID | None:
    """The latest acceptance of the entitlement a RecordingEmitter saw, as credit-check reads it."""
    ids = [
        p.acceptance_id
        for p, _k in emit.emitted
        if getattr(p, "entitlement_id", None) == entitlement_id and type(p).__name__ == "ConfirmationAccepted"
    ]
    return ids[-1] if ids else None
