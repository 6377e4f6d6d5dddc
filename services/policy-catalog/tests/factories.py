from __future__ import annotations

from typing import Any

POLICY_ID = "zz-test-industrial-app-award"


def policy_document(*, version: int = 1, policy_id: str = POLICY_ID, per_item_fen: int = 20_000_000) -> dict[str, Any]:
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
        "effective": {"from": "2022-01-01", "to": "2025-12-31"},
        "target": {"division_prefix": "4101"},
        "benefit": {"kind": "cash_award"},
        "record_types": ["miit.industrial_app_solution_awarded"],
        "award": {
            "mode": "per_item",
            "rule": "每个解决方案给予奖励",
            "item_key": "has(record.attributes.product_series) ? record.attributes.product_series"
            " : record.attributes.solution_name",
            "amount_per_item_fen": per_item_fen,
        },
    }
