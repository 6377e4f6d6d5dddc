from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from mianshen_shared import testing
from mianshen_shared.config import REPO_ROOT
from mianshen_shared.events.catalog import DepartmentRecordSubmitted, PaymentIssued, PolicyPublished, PolicyRetired
from mianshen_shared.rules import load_policy_file

SME_POLICY_ID = "zz-test-specialized-sme-award"
LITTLE_GIANT_FEN = 200_000_000  # 200万元
PROVINCIAL_FEN = 50_000_000  # 50万元


def sme_policy(
    *, version: int = 1, policy_id: str = SME_POLICY_ID, little_giant_fen: int = LITTLE_GIANT_FEN
) -> dict[str, Any]:
    """A highest-tier award over 专精特新 titles: 小巨人 above 省级专精特新."""
    return {
        "id": policy_id,
        "version": version,
        "title": "专精特新企业奖励",
        "batch": "第一批",
        "list_no": 2,
        "legal_basis": {"title": "郑州市促进中小企业高质量发展若干措施", "number": "郑政办〔2022〕1号"},
        "lead_department": "市工信局",
        "clause": "对新认定的国家级专精特新“小巨人”企业、省级“专精特新”企业分别给予奖励，从高不重复。",
        "effective": {"from": "2022-01-01"},
        "target": {"division_prefix": "4101"},
        "benefit": {"kind": "cash_award"},
        "record_types": ["miit.sme_title_recognized"],
        "award": {
            "mode": "highest_tier",
            "rule": "按认定称号给予一次性奖励，从高不重复",
            "tiers": [
                {
                    "label": "国家级专精特新“小巨人”",
                    "when": "record.attributes.title == 'national_little_giant'",
                    "amount_fen": little_giant_fen,
                },
                {
                    "label": "省级“专精特新”",
                    "when": "record.attributes.title == 'provincial_specialized'",
                    "amount_fen": PROVINCIAL_FEN,
                },
            ],
        },
    }


def published(document: dict[str, Any]) -> PolicyPublished:
    return PolicyPublished(
        policy_id=document["id"],
        version=document["version"],
        title=document["title"],
        document=document,
        published_at=datetime.now(UTC),
    )


def retired(document: dict[str, Any], reason: str = "政策到期") -> PolicyRetired:
    return PolicyRetired(
        policy_id=document["id"], version=document["version"], retired_at=datetime.now(UTC), reason=reason
    )


def title_record(
    uscc: str,
    title: str = "national_little_giant",
    *,
    record_id: str | None = None,
    action: str = "upsert",
    department: str = "gxj",
    record_type: str = "miit.sme_title_recognized",
    attributes: dict[str, Any] | None = None,
) -> DepartmentRecordSubmitted:
    raw = testing.make_record(
        record_type=record_type,
        department=department,
        uscc_code=uscc,
        effective_date=date(2022, 6, 1),
        attributes=attributes
        if attributes is not None
        else {"title": title, "document_no": "工信部企业函〔2022〕191号"},
        record_id=record_id,
        action=action,
    )
    return DepartmentRecordSubmitted(**raw, received_at=datetime.now(UTC))


# --- the city's own policies, award history and payments -----------------------------

SPECIALIZED_SME_POLICY = "policies/zhengzhou/02-specialized-sme-award.yaml"  # 不重复: once paid, nothing more
APP_SOLUTION_POLICY = "policies/zhengzhou/09-industrial-app-solution-award.yaml"  # per item, 300万 per year
MILLION_YUAN_FEN = 100_000_000


def city_policy(path: str, *, version: int = 1) -> dict[str, Any]:
    """A shipped policy document, as version `version` (tests publish newer versions
    of it, so they start from a known number rather than whatever the file is at)."""
    return {**load_policy_file(REPO_ROOT / path), "version": version}


def app_solution_record(
    uscc: str, solution_name: str, *, award_year: int = 2023, record_id: str | None = None
) -> DepartmentRecordSubmitted:
    raw = testing.make_record(
        record_type="miit.industrial_app_solution_awarded",
        department="gxj",
        uscc_code=uscc,
        effective_date=date(award_year, 9, 1),
        attributes={"solution_name": solution_name, "award_year": award_year},
        record_id=record_id,
    )
    return DepartmentRecordSubmitted(**raw, received_at=datetime.now(UTC))


def payment_for(
    entitlement: Any, *, amount_fen: int | None = None, issued_at: datetime | None = None, **changes: Any
) -> PaymentIssued:
    """The payment service's `payment.issued` for an entitlement (its whole amount by default)."""
    fields: dict[str, Any] = {
        "payment_id": uuid.uuid4(),
        "entitlement_id": entitlement.entitlement_id,
        "uscc": entitlement.uscc,
        "policy_id": entitlement.policy_id,
        "amount_fen": entitlement.amount_fen if amount_fen is None else amount_fen,
        "idempotency_key": f"pay-{entitlement.entitlement_id}",
        "finance_reference": "CZ-2026-000001",
        "issued_at": issued_at or datetime.now(UTC),
    }
    return PaymentIssued(**(fields | changes))
