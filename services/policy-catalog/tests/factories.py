from __future__ import annotations

from datetime import date, timedelta
from typing import Any

POLICY_ID = "zz-test-industrial-app-award"
RECORD_TYPE = "miit.industrial_app_solution_awarded"


def solution(name: str, *, on: str = "2023-05-10", series: str | None = None) -> dict[str, Any]:
    attributes: dict[str, Any] = {"solution_name": name, "award_year": int(on[:4])}
    if series is not None:
        attributes["product_series"] = series
    return {"record_type": RECORD_TYPE, "effective_date": on, "attributes": attributes}


def app_award_cases(per_item_fen: int, *, window_start: str = "2022-01-01") -> list[dict[str, Any]]:
    """The three cases a clerk would write: one award, the same series once, outside the window."""
    day_before = (date.fromisoformat(window_start) - timedelta(days=1)).isoformat()
    return [
        {
            "name": "获评一个解决方案，奖励一次",
            "facts": [solution("智能排产APP", on=window_start)],
            "expect": [{"award_key": "once", "amount_fen": per_item_fen}],
        },
        {
            "name": "同一产品系列的两个解决方案只计一次",
            "facts": [
                solution("排产APP 1.0", on=window_start, series="排产"),
                solution("排产APP 2.0", on=window_start, series="排产"),
            ],
            "expect": [{"award_key": "once", "amount_fen": per_item_fen}],
        },
        {
            "name": "执行期限之前获评的不予奖励",
            "facts": [solution("早期APP", on=day_before)],
            "expect": [],
        },
    ]


def policy_document(
    *,
    version: int = 1,
    policy_id: str = POLICY_ID,
    per_item_fen: int = 20_000_000,
    effective_from: str = "2022-01-01",
    effective_to: str | None = "2025-12-31",
    cases: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A per-item award: each 工业APP优秀解决方案 counts once per product series."""
    return {
        "id": policy_id,
        "version": version,
        "title": "工业APP优秀解决方案奖励",
        "batch": "第一批",
        "list_no": 7,
        "legal_basis": {"title": "郑州市推进工业互联网发展若干措施", "number": "郑政办〔2022〕2号"},
        "lead_department": "市工信局",
        "clause": "对入选国家级工业APP优秀解决方案的企业，每个给予奖励，同一系列只计一次。",
        "effective": {"from": effective_from, "to": effective_to},
        "target": {"division_prefix": "4101"},
        "benefit": {"kind": "cash_award"},
        "record_types": [RECORD_TYPE],
        "award": {
            "mode": "per_item",
            "rule": "每个解决方案给予奖励",
            "item_key": "has(record.attributes.product_series) ? record.attributes.product_series"
            " : record.attributes.solution_name",
            "amount_per_item_fen": per_item_fen,
        },
        "cases": app_award_cases(per_item_fen, window_start=effective_from) if cases is None else cases,
    }


def document_whose_case_fails(**overrides: Any) -> dict[str, Any]:
    """The clerk expected 30万元 where the rule gives 20万元: the document must not be published."""
    cases = app_award_cases(20_000_000)
    cases[0]["expect"] = [{"award_key": "once", "amount_fen": 30_000_000}]
    return policy_document(cases=cases, **overrides)
