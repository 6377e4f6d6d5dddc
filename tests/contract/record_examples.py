"""Write one example of every event type to examples/, built through the payload
models with realistic values. Run it when an event type is added:
`python tests/contract/record_examples.py`. The examples are then the contract
both producers and consumers are tested against."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from mianshen_shared import uscc
from mianshen_shared.events import catalog as c
from mianshen_shared.events import make_envelope

HERE = Path(__file__).parent
ENTERPRISE = uscc.build("9", "1", "410105", "MA9DEM01")
AT = datetime(2022, 9, 1, 2, 30, tzinfo=UTC)
ENTITLEMENT = uuid.UUID("5b0d1f2e-8a44-5c1e-9a9e-3f1f0f6a2b11")
CONFIRMATION = uuid.UUID("0f6b2d8e-1c3a-4f7e-b2d9-6a1e5c3b7d20")
POLICY = "zz-2022-02-specialized-sme-award"
ACCOUNT = c.BankAccount(
    account_name="郑州中原智造科技有限公司", account_number="6222020200001234567", bank_name="中国工商银行郑州分行"
)
FACT = c.FactUsed(
    record_id="gxj-2022-000123",
    department="gxj",
    record_type="miit.sme_title_recognized",
    effective_date=date(2022, 8, 20),
    attributes={"title": "national_little_giant", "document_no": "工信厅企业函〔2022〕191号"},
)
EXPLANATION = c.Explanation(
    policy_id=POLICY,
    policy_version=1,
    legal_basis="《郑州市人民政府办公厅关于支持“专精特新”中小企业高质量发展的实施意见》（郑政办〔2022〕36号）",
    clause="对新认定为国家级专精特新“小巨人”企业、省级“专精特新”企业分别给予200万元、50万元的一次性奖励。",
    rule="从高、不重复：取最高档“国家级专精特新‘小巨人’企业”",
    computation="国家级专精特新“小巨人”企业 200万元，核定 2,000,000.00元",
    facts=[FACT],
)

PAYLOADS: list[c.Payload] = [
    c.DepartmentRecordSubmitted(
        uscc=ENTERPRISE,
        record_id=FACT.record_id,
        department="gxj",
        enterprise_name="郑州中原智造科技有限公司",
        record_type=FACT.record_type,
        effective_date=FACT.effective_date,
        attributes=FACT.attributes,
        received_at=AT,
    ),
    c.PolicyPublished(
        policy_id=POLICY,
        version=1,
        title="专精特新企业一次性奖励",
        document={"id": POLICY, "version": 1, "title": "专精特新企业一次性奖励"},
        published_at=AT,
        effective_from=date(2022, 9, 1),
    ),
    c.PolicyRetired(policy_id=POLICY, version=1, retired_at=AT, reason="政策执行期满"),
    c.EntitlementDetermined(
        uscc=ENTERPRISE,
        entitlement_id=ENTITLEMENT,
        enterprise_name="郑州中原智造科技有限公司",
        policy_id=POLICY,
        policy_version=1,
        policy_title="专精特新企业一次性奖励",
        award_key="once",
        change="new",
        amount_fen=200_000_000,
        benefit_kind="cash_award",
        explanation=EXPLANATION,
        determined_at=AT,
    ),
    c.ConfirmationRequested(
        uscc=ENTERPRISE,
        confirmation_id=CONFIRMATION,
        entitlement_id=ENTITLEMENT,
        policy_id=POLICY,
        policy_title="专精特新企业一次性奖励",
        amount_fen=200_000_000,
        deadline=date(2022, 10, 1),
    ),
    c.ConfirmationAccepted(
        uscc=ENTERPRISE,
        confirmation_id=CONFIRMATION,
        entitlement_id=ENTITLEMENT,
        enterprise_name="郑州中原智造科技有限公司",
        policy_id=POLICY,
        policy_version=1,
        amount_fen=200_000_000,
        bank_account=ACCOUNT,
        accepted_at=AT,
    ),
    c.ConfirmationDeclined(
        uscc=ENTERPRISE, confirmation_id=CONFIRMATION, entitlement_id=ENTITLEMENT, reason="企业自愿放弃", declined_at=AT
    ),
    c.ConfirmationClosed(
        uscc=ENTERPRISE,
        confirmation_id=CONFIRMATION,
        entitlement_id=ENTITLEMENT,
        reason="认定数据已被撤销，资格不再成立",
        closed_at=AT,
    ),
    c.CreditAssessed(
        uscc=ENTERPRISE,
        assessment_id=uuid.UUID("7d1e0c55-2b9f-4d3a-8c61-0e4f2a9b6c33"),
        confirmation_id=CONFIRMATION,
        entitlement_id=ENTITLEMENT,
        enterprise_name="郑州中原智造科技有限公司",
        policy_id=POLICY,
        policy_version=1,
        amount_fen=200_000_000,
        bank_account=ACCOUNT,
        decision="held",
        reasons=[
            c.CreditRecordRef(
                record_id="credit-2022-0456",
                list_type="credit.dishonest_judgment_debtor",
                department="credit",
                effective_date=date(2022, 1, 10),
            )
        ],
        assessed_at=AT,
    ),
    c.PaymentIssued(
        uscc=ENTERPRISE,
        payment_id=uuid.UUID("a3c5e7f9-0b1d-4f2e-9a8c-6e4d2b0f1a35"),
        entitlement_id=ENTITLEMENT,
        policy_id=POLICY,
        amount_fen=200_000_000,
        idempotency_key=f"mjx-{ENTITLEMENT}",
        finance_reference="CZ2022090100001",
        issued_at=AT,
    ),
    c.PaymentFailed(
        uscc=ENTERPRISE,
        payment_id=uuid.UUID("a3c5e7f9-0b1d-4f2e-9a8c-6e4d2b0f1a35"),
        entitlement_id=ENTITLEMENT,
        policy_id=POLICY,
        amount_fen=200_000_000,
        idempotency_key=f"mjx-{ENTITLEMENT}",
        reason_code="account_invalid",
        reason="收款账户不存在或已销户",
        failed_at=AT,
    ),
]


def main() -> None:
    for payload in PAYLOADS:
        key = getattr(payload, "uscc", None) or payload.policy_id  # type: ignore[attr-defined]
        env = make_envelope(
            payload, source=c.spec_for(payload).producer, subject=key, correlation_id="demo-correlation-0001"
        )
        env = env.model_copy(update={"id": uuid.uuid5(uuid.NAMESPACE_URL, env.type), "time": AT})
        path = HERE / "examples" / f"{env.type}.json"
        path.write_text(json.dumps(env.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n", "utf-8")
        print(path)


if __name__ == "__main__":
    main()
