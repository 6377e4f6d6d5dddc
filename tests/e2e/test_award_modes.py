"""Each award shape end to end through Kafka: department records in, the right
amounts paid out — and, once paid, the award history decides what comes next:
级差 pays the difference, 不重复 pays nothing more, a yearly cap tops up only to
the cap, a follow-on award pays on the later fact."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest

from gateway.testing import AutoAuth, load_registry
from mianshen_shared import testing
from mianshen_shared.stack import LocalStack

from .test_mianshen_flow import _instructions, _settled_by_payee, accept_all, poll, record, settled, title

pytestmark = pytest.mark.e2e

WAN = 1_000_000


def smart_title(code: str, program: str, level: str, day: date) -> dict[str, Any]:
    attributes = {"program": program, "level": level, "year": day.year, "document_no": "豫工信装〔2022〕95号"}
    return record(code, "gxj", "miit.enterprise_title_recognized", attributes, day)


def app(code: str, name: str) -> dict[str, Any]:
    attributes = {"solution_name": name, "product_series": name, "award_year": 2022}
    return record(code, "gxj", "miit.industrial_app_solution_awarded", attributes, date(2022, 9, 1))


def in_database(code: str, year: int) -> dict[str, Any]:
    attributes = {"category": "industrial", "storage_year": year, "industry_section": "C", "industry_division": "27"}
    return record(code, "tjj", "stats.enterprise_in_database", attributes, date(year, 3, 31))


def annual_figures(code: str, year: int) -> dict[str, Any]:
    attributes = {
        "year": year,
        "category": "industrial",
        "above_scale": True,
        "industry_section": "C",
        "industry_division": "27",
        "output_value_fen": 50_000 * WAN,
    }
    return record(code, "tjj", "stats.enterprise_annual_figures", attributes, date(year + 1, 3, 20))


async def push(gw: httpx.AsyncClient, records: list[dict[str, Any]]) -> None:
    r = await gw.post("/v1/data-events", json={"records": records})
    assert r.status_code == 202, r.text


async def paid_in_history(gw: httpx.AsyncClient, code: str, count: int) -> None:
    """Wait until eligibility has recorded `count` payments for the enterprise: only
    then does the next record meet the award history rather than an open award."""

    async def recorded() -> bool:
        items = (await gw.get(f"/v1/enterprises/{code}/determinations")).json()["items"]
        return sum(1 for i in items if i.get("paid_fen")) >= count

    await poll(f"{count} payment(s) of {code} in eligibility's award history", recorded)


async def pay_round(gw: httpx.AsyncClient, code: str, records: list[dict[str, Any]], paid_before: int) -> None:
    await push(gw, records)
    await accept_all(gw, code, expected=1)
    await settled(gw, code)
    await paid_in_history(gw, code, paid_before + 1)


async def test_each_award_shape_pays_what_its_policy_says_once_history_is_known(stack: LocalStack) -> None:
    upgrade, no_repeat, capped, follow_on = (testing.make_uscc() for _ in range(4))
    async with (
        httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30, auth=AutoAuth(load_registry())) as gw,
        httpx.AsyncClient(base_url=stack.url("finance-sim"), timeout=30) as finance,
    ):
        # First round: every enterprise is paid its first award.
        await pay_round(gw, upgrade, [smart_title(upgrade, "smart_workshop", "provincial", date(2022, 8, 10))], 0)
        await pay_round(gw, no_repeat, [title(no_repeat, "provincial_specialized", date(2022, 7, 1))], 0)
        await pay_round(gw, capped, [app(capped, "方案甲"), app(capped, "方案乙")], 0)
        await pay_round(gw, follow_on, [in_database(follow_on, 2022)], 0)

        # Second round: a later fact under each policy.
        demo_factory = smart_title(upgrade, "intelligent_manufacturing_demo_factory", "national", date(2023, 11, 15))
        await pay_round(gw, upgrade, [demo_factory], 1)  # 级差: 300万 − 30万
        await pay_round(gw, capped, [app(capped, "方案丙"), app(capped, "方案丁")], 1)  # 同一年度最高300万
        await pay_round(gw, follow_on, [annual_figures(follow_on, 2024)], 1)  # 第3年仍为规上
        await push(gw, [title(no_repeat, "national_little_giant", date(2023, 7, 1))])

        # A marker pushed last is settled only after everything before it was processed.
        marker = testing.make_uscc()
        await pay_round(gw, marker, [title(marker, "provincial_specialized")], 0)

        paid = _settled_by_payee(await _instructions(finance))
        assert paid[f"企业{upgrade[-4:]}"] == [30 * WAN, 270 * WAN]
        assert paid[f"企业{no_repeat[-4:]}"] == [50 * WAN]
        assert paid[f"企业{capped[-4:]}"] == [200 * WAN, 100 * WAN]
        assert paid[f"企业{follow_on[-4:]}"] == [10 * WAN, 10 * WAN]

        # The enterprise that was not paid again can ask why, and is told.
        policy_id = "zz-2022-02-specialized-sme-award"
        r = await gw.get(f"/v1/enterprises/{no_repeat}/policies/{policy_id}/assessment")
        assert r.status_code == 200, r.text
        why = r.json()
        assert why["eligible"] is False
        assert any("不重复" in check["text"] and check["met"] is False for check in why["checks"])
        assert [h["amount_fen"] for h in why["history"]] == [50 * WAN]

        # The upgrade's explanation shows the difference step by step.
        items = (await gw.get(f"/v1/enterprises/{upgrade}/determinations")).json()["items"]
        second = next(i for i in items if i["award_key"] == "once#2")
        assert "300万元 − 本政策已奖励30万元 = 270万元" in second["explanation"]["computation"]
