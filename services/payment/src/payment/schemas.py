from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from mianshen_shared.money import format_yuan
from payment.models import Payment

STATUS_TEXT = {
    "pending": "待支付",
    "submitted": "支付中",
    "unknown": "支付结果确认中",
    "succeeded": "已兑现",
    "failed": "支付失败",
    "held": "暂缓兑现（信用核查未通过）",
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
    payee: PayeeRead
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
            payee=PayeeRead(
                account_name=payment.payee_name,
                # The full number never leaves the payment service.
                account_number_masked="*" * max(len(payment.payee_account_number) - 4, 0)
                + payment.payee_account_number[-4:],
                bank_name=payment.payee_bank_name,
            ),
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
