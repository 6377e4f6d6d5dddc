"""Push sample department data through the gateway and walk it to payment, as a
department and an enterprise (through 亲清在线) would. Prints what happened."""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from typing import Any

import httpx

from gateway.testing import AutoAuth, load_registry
from mianshen_shared import uscc
from mianshen_shared.money import format_yuan

# Characters a 统一社会信用代码's organisation body may hold (no I, O, S, V, Z).
_BODY = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_NAMES = {
    "郑州中原智造科技有限公司": "410105",
    "郑州嵩山工业软件有限公司": "410122",
    "郑州金水商贸有限公司": "410105",
    "郑州二七精工机械有限公司": "410103",
}


def enterprises(run: str) -> dict[str, str]:
    """Fresh codes for every run: the award history remembers what an enterprise was
    paid, so the same enterprises pushed again would (rightly) get nothing new."""
    rng = random.Random(run)
    return {
        name: uscc.build("9", "1", division, "MA" + "".join(rng.choice(_BODY) for _ in range(6)))
        for name, division in _NAMES.items()
    }


ENTERPRISES: dict[str, str] = {}
ACCOUNT = {"account_name": "", "account_number": "6222020200001234567", "bank_name": "中国工商银行郑州分行"}


def sample_records(run: str) -> list[dict[str, Any]]:
    a, b, c, d = ENTERPRISES.values()
    names = {v: k for k, v in ENTERPRISES.items()}

    def rec(n: int, dept: str, code: str, rtype: str, day: str, attrs: dict[str, Any]) -> dict[str, Any]:
        return {
            "record_id": f"demo-{run}-{n}",
            "department": dept,
            "uscc": code,
            "enterprise_name": names[code],
            "record_type": rtype,
            "effective_date": day,
            "attributes": attrs,
        }

    return [
        rec(
            1,
            "gxj",
            a,
            "miit.sme_title_recognized",
            "2022-07-15",
            {"title": "provincial_specialized", "document_no": "豫工信企业〔2022〕101号"},
        ),
        rec(
            2,
            "gxj",
            a,
            "miit.sme_title_recognized",
            "2022-08-20",
            {"title": "national_little_giant", "document_no": "工信厅企业函〔2022〕191号"},
        ),
        *[
            rec(
                3 + i,
                "gxj",
                b,
                "miit.industrial_app_solution_awarded",
                "2022-09-01",
                {"solution_name": f"工业APP解决方案{i + 1}", "product_series": f"系列{i + 1}", "award_year": 2022},
            )
            for i in range(4)
        ],
        rec(
            7,
            "rsj",
            c,
            "hrss.unemployment_insurance_annual",
            "2022-03-31",
            {
                "contribution_year": 2021,
                "paid_fen": 12_345_678,
                "enterprise_size": "small",
                "insured_at_year_start": 40,
                "insured_at_year_end": 39,
            },
        ),
        rec(
            8,
            "gxj",
            d,
            "miit.sme_title_recognized",
            "2022-06-30",
            {"title": "national_little_giant", "document_no": "工信厅企业函〔2022〕191号"},
        ),
        rec(
            9,
            "credit",
            d,
            "credit.dishonest_judgment_debtor",
            "2022-01-10",
            {"authority": "郑州市中级人民法院", "document_no": "（2022）豫01执456号"},
        ),
    ]


def wait(what: str, fetch: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = fetch()
        if result:
            return result
        time.sleep(0.3)
    raise TimeoutError(f"等待超时：{what}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:6]
    ENTERPRISES.update(enterprises(run))
    # Development credentials of config/clients: the department, 亲清在线 for the enterprise.
    with httpx.Client(base_url=args.gateway, timeout=30, auth=AutoAuth(load_registry())) as gw:
        records = sample_records(run)
        # Each department pushes its own records, the credit department's first.
        batches: dict[str, list[dict[str, Any]]] = {}
        for record in sorted(records, key=lambda rec: rec["department"] != "credit"):
            batches.setdefault(record["department"], []).append(record)
        for department, batch in batches.items():
            pushed = gw.post("/v1/data-events", json={"records": batch})
            print(f"{department} 推送 {len(batch)} 条数据 → {pushed.status_code} {pushed.json()}")
            pushed.raise_for_status()
        # Credit records and confirmations travel on different topics; wait until the
        # credit department's record is on file before the enterprise answers.
        listed = {r["uscc"] for r in records if r["department"] == "credit"}
        for code in listed:
            wait(
                "信用核查记录入库",
                lambda code=code: gw.get(f"/v1/enterprises/{code}/credit").json().get("listed"),
            )
        for name, code in ENTERPRISES.items():
            pending = wait(
                f"{name} 的意愿确认请求",
                lambda code=code: gw.get(f"/v1/enterprises/{code}/confirmations", params={"status": "pending"}).json()[
                    "items"
                ],
            )
            for item in pending:
                account = dict(ACCOUNT, account_name=name)
                r = gw.post(
                    f"/v1/enterprises/{code}/confirmations/{item['confirmation_id']}/accept",
                    json={"bank_account": account},
                )
                print(f"{name}：确认申领《{item['policy_title']}》{format_yuan(item['amount_fen'])} → {r.status_code}")
        print("\n兑现状态：")
        for name, code in ENTERPRISES.items():

            def settled(code: str = code) -> Any:
                items = gw.get(f"/v1/enterprises/{code}/entitlements").json()["items"]
                done = {"paid", "credit_held", "payment_failed", "declined", "withdrawn"}
                return items if items and all(i["status"] in done for i in items) else None

            try:
                items = wait(f"{name} 的兑现结果", settled)
            except TimeoutError as exc:
                print(f"  {name}: {exc}")
                continue
            for i in items:
                print(f"  {name:<16} {i['policy_title']:<24} {format_yuan(i['amount_fen']):>16}  {i['status_text']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
