from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from mianshen_shared import testing
from mianshen_shared.events.catalog import (
    ConfirmationAccepted,
    ConfirmationRevoked,
    DepartmentRecordSubmitted,
    SealedBankAccount,
)
from mianshen_shared.sealing import Sealer, mask_account_number

ACCOUNT_NUMBER = "6222020200001234567"


def credit_record(
    uscc: str,
    *,
    record_type: str = "credit.dishonest_judgment_debtor",
    effective: date = date(2022, 1, 1),
    expires_on: str | None = None,
    action: str = "upsert",
    record_id: str | None = None,
) -> DepartmentRecordSubmitted:
    attributes: dict[str, Any] = {"authority": "郑州市中级人民法院", "document_no": "（2022）豫01执123号"}
    if expires_on:
        attributes["expires_on"] = expires_on
    raw = testing.make_record(
        record_type=record_type,
        department="credit",
        uscc_code=uscc,
        effective_date=effective,
        attributes=attributes,
        action=action,
        record_id=record_id,
    )
    return DepartmentRecordSubmitted(**raw, received_at=datetime.now(UTC))


def red_record(uscc: str, **changes: Any) -> DepartmentRecordSubmitted:
    return credit_record(uscc, record_type="credit.a_grade_taxpayer", **changes)


def sealed_account() -> SealedBankAccount:
    return SealedBankAccount(
        account_name="郑州示例科技有限公司",
        account_number_masked=mask_account_number(ACCOUNT_NUMBER),
        account_number_sealed=Sealer.from_config("").seal(ACCOUNT_NUMBER),
        bank_name="中国工商银行郑州分行",
    )


def accepted(
    uscc: str, *, amount_fen: int = 200_000_000, entitlement_id: uuid.UUID | None = None, **changes: Any
) -> ConfirmationAccepted:
    fields: dict[str, Any] = {
        "confirmation_id": uuid.uuid4(),
        "acceptance_id": uuid.uuid4(),
        "entitlement_id": entitlement_id or uuid.uuid4(),
        "uscc": uscc,
        "enterprise_name": "郑州示例科技有限公司",
        "policy_id": "zz-2022-02-specialized-sme-award",
        "policy_version": 1,
        "amount_fen": amount_fen,
        "benefit_kind": "cash_award",
        "bank_account": sealed_account(),
        "accepted_at": datetime.now(UTC),
    }
    return ConfirmationAccepted(**(fields | changes))


def revoked(acceptance: ConfirmationAccepted, **changes: Any) -> ConfirmationRevoked:
    fields: dict[str, Any] = {
        "confirmation_id": acceptance.confirmation_id,
        "acceptance_id": acceptance.acceptance_id,
        "entitlement_id": acceptance.entitlement_id,
        "uscc": acceptance.uscc,
        "reason": "企业撤回确认",
        "revoked_at": datetime.now(UTC),
    }
    return ConfirmationRevoked(**(fields | changes))
