"""Small builders of what departments and front ends send to the gateway, and of
what the gateway records of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.audit import AuditEntry
from mianshen_shared import testing


def title_record(**overrides: Any) -> dict[str, Any]:
    """市工信局 recognises an enterprise as 专精特新 — a record gxj may push."""
    record = testing.make_record(
        record_type="miit.sme_title_recognized",
        department="gxj",
        attributes={"title": "national_little_giant", "document_no": "工信厅企业函〔2022〕191号"},
    )
    record.update(overrides)
    return record


def insurance_record(**overrides: Any) -> dict[str, Any]:
    record = testing.make_record(
        record_type="hrss.unemployment_insurance_annual",
        department="rsj",
        attributes={
            "contribution_year": 2021,
            "paid_fen": 12_345_678,
            "enterprise_size": "small",
            "insured_at_year_start": 40,
            "insured_at_year_end": 39,
        },
    )
    record.update(overrides)
    return record


def credit_record(**overrides: Any) -> dict[str, Any]:
    record = testing.make_record(
        record_type="credit.dishonest_judgment_debtor",
        department="credit",
        attributes={"authority": "郑州市中级人民法院", "document_no": "（2022）豫01执456号"},
    )
    record.update(overrides)
    return record


def batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"records": list(records)}


def with_wrong_check_digit(code: str) -> str:
    return code[:-1] + ("0" if code[-1] != "0" else "1")


def bank_account(**overrides: Any) -> dict[str, Any]:
    return {
        "account_name": "郑州示例科技有限公司",
        "account_number": "6222020200001234567",
        "bank_name": "中国工商银行郑州分行",
        **overrides,
    }


def audit_entry(request_id: str, **overrides: Any) -> AuditEntry:
    """An operator's budget change as the audit log records it."""
    fields: dict[str, Any] = {
        "recorded_at": datetime.now(UTC),
        "client_id": "approver.zhao",
        "principal_kind": "operator",
        "actor": "approver.zhao",
        "department": None,
        "enterprise": None,
        "method": "PUT",
        "route": "/v1/operator/budgets/{policy_id}/{year}",
        "path": "/v1/operator/budgets/p/2026",
        "query": "",
        "uscc": None,
        "status": 200,
        "problem_code": None,
        "request_id": request_id,
        "client_ip": "10.0.0.1",
    }
    return AuditEntry(**(fields | overrides))
