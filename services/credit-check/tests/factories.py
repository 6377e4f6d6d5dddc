from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from mianshen_shared import testing
from mianshen_shared.events.catalog import BankAccount, ConfirmationAccepted, DepartmentRecordSubmitted


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


def accepted(uscc: str, *, amount_fen: int = 200_000_000) -> ConfirmationAccepted:
    return ConfirmationAccepted(
        confirmation_id=uuid.uuid4(),
        entitlement_id=uuid.uuid4(),
        uscc=uscc,
        enterprise_name="郑州示例科技有限公司",
        policy_id="zz-2022-02-specialized-sme-award",
        policy_version=1,
        amount_fen=amount_fen,
        bank_account=BankAccount(
            account_name="郑州示例科技有限公司", account_number="6222020200001234567", bank_name="中国工商银行郑州分行"
        ),
        accepted_at=datetime.now(UTC),
    )
