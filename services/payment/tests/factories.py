from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from mianshen_shared import testing
from mianshen_shared.events.catalog import CreditAssessed, CreditRecordRef, SealedBankAccount
from mianshen_shared.sealing import Sealer, mask_account_number

ACCOUNT_NUMBER = "6222020200001234567"


def assessed(
    uscc: str | None = None,
    *,
    decision: str = "cleared",
    amount_fen: int = 200_000_000,
    entitlement_id: uuid.UUID | None = None,
) -> CreditAssessed:
    code = uscc or testing.make_uscc()
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
        confirmation_id=uuid.uuid4(),
        acceptance_id=uuid.uuid4(),
        entitlement_id=entitlement_id or uuid.uuid4(),
        uscc=code,
        enterprise_name="郑州示例科技有限公司",
        policy_id="zz-2022-02-specialized-sme-award",
        policy_version=1,
        amount_fen=amount_fen,
        bank_account=SealedBankAccount(
            account_name="郑州示例科技有限公司",
            account_number_masked=mask_account_number(ACCOUNT_NUMBER),
            account_number_sealed=Sealer.from_config("").seal(ACCOUNT_NUMBER),
            bank_name="中国工商银行郑州分行",
        ),
        decision=decision,  # type: ignore[arg-type]
        reasons=reasons,
        assessed_at=datetime.now(UTC),
    )
