"""Small builders for rule-engine tests: facts valid for the city's record
types, and the Zhengzhou policy documents as shipped."""

from __future__ import annotations

import copy
import itertools
from datetime import date
from typing import Any

from mianshen_shared import city
from mianshen_shared.config import REPO_ROOT
from mianshen_shared.rules import CompiledPolicy, Fact, compile_policy, load_policy_file

POLICY_DIR = REPO_ROOT / "policies" / "zhengzhou"
SPECIALIZED_SME = "02-specialized-sme-award.yaml"
INDUSTRIAL_APP = "09-industrial-app-solution-award.yaml"
JOB_RETENTION = "23-unemployment-insurance-job-retention-refund.yaml"

WAN = 1_000_000  # fen in 1万元

_ids = itertools.count(1)


def document(file_name: str) -> dict[str, Any]:
    return load_policy_file(POLICY_DIR / file_name)


def policy(file_name: str) -> CompiledPolicy:
    return compile_policy(document(file_name))


def fact(
    record_type: str,
    attributes: dict[str, Any],
    *,
    department: str,
    effective: date = date(2022, 6, 1),
    record_id: str | None = None,
) -> Fact:
    # Test data that the city would refuse would prove nothing about real records.
    assert city.current().attribute_errors(record_type, attributes) == []
    return Fact(
        record_id=record_id or f"{department}-{next(_ids)}",
        department=department,
        record_type=record_type,
        effective_date=effective,
        attributes=attributes,
    )


def title(name: str, *, effective: date = date(2022, 6, 1), record_id: str | None = None) -> Fact:
    return fact(
        "miit.sme_title_recognized",
        {"title": name, "document_no": f"工信部企业函〔2022〕{next(_ids)}号"},
        department="gxj",
        effective=effective,
        record_id=record_id,
    )


def app_solution(
    solution_name: str,
    *,
    award_year: int = 2022,
    series: str | None = None,
    effective: date = date(2022, 6, 1),
) -> Fact:
    attributes: dict[str, Any] = {"solution_name": solution_name, "award_year": award_year}
    if series is not None:
        attributes["product_series"] = series
    return fact("miit.industrial_app_solution_awarded", attributes, department="gxj", effective=effective)


def insurance(
    *,
    paid_fen: int = 10_000_000,
    size: str = "small",
    start: int = 100,
    end: int = 100,
    contribution_year: int = 2021,
    effective: date = date(2022, 6, 1),
    arrears: bool | None = None,
    record_id: str | None = None,
) -> Fact:
    attributes: dict[str, Any] = {
        "contribution_year": contribution_year,
        "paid_fen": paid_fen,
        "enterprise_size": size,
        "insured_at_year_start": start,
        "insured_at_year_end": end,
    }
    if arrears is not None:
        attributes["arrears"] = arrears
    return fact(
        "hrss.unemployment_insurance_annual",
        attributes,
        department="rsj",
        effective=effective,
        record_id=record_id,
    )


def formula_document(**award: Any) -> dict[str, Any]:
    """The job-retention document with its award replaced: a valid base for
    exercising formula mode in isolation."""
    doc = copy.deepcopy(document(JOB_RETENTION))
    doc["award"] = {"mode": "formula", "rule": "测试规则", "when": "true", "amount_fen": "0", **award}
    return doc
