"""The money path end to end, through the gateway: a reduction carried out by its
department instead of paid, and a policy that runs out of budget waits and pays
once the budget is raised — never beyond it."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Any

import httpx
import pytest

from gateway.testing import AutoAuth, load_registry
from mianshen_shared import testing
from mianshen_shared.stack import LocalStack

pytestmark = pytest.mark.e2e

RENT_POLICY = "zz-2022-25-state-owned-premises-rent-relief"
APP_POLICY = "zz-2022-09-industrial-app-solution-award"
# Names the registered operator AutoAuth authenticates as; the gateway records that identity.
OPERATOR = {"X-Actor": "approver.zhao"}


async def poll(what: str, fetch: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await fetch():
            return result
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def lease(code: str) -> dict[str, Any]:
    return testing.make_record(
        record_type="sasac.state_owned_premises_lease",
        department="gzw",
        uscc_code=code,
        attributes={
            "lessor": "郑州某某国有资产经营有限公司",
            "contract_no": f"ZL-2021-{code[-4:]}",
            "premises_address": f"金水区某某路{code[-3:]}号商铺",
            "premises_use": "business",
            "monthly_rent_fen": 2_000_000,
            "lease_start": "2021-01-01",
            "lease_end": "2025-12-31",
            "enterprise_kind": "enterprise",
            "enterprise_size": "small",
            "epidemic_affected": True,
        },
        effective_date=date(2022, 6, 1),
    )


def app_solution(code: str) -> dict[str, Any]:
    return testing.make_record(
        record_type="miit.industrial_app_solution_awarded",
        department="gxj",
        uscc_code=code,
        attributes={"solution_name": f"设备远程运维解决方案{code[-4:]}", "award_year": 2022},
        effective_date=date(2022, 8, 1),
    )


async def request_for(gw: httpx.AsyncClient, code: str) -> dict[str, Any]:
    async def pending() -> Any:
        r = await gw.get(f"/v1/enterprises/{code}/confirmations", params={"status": "pending"})
        return r.json()["items"] if r.status_code == 200 else None

    [item] = await poll(f"the confirmation request of {code}", pending)
    return item  # type: ignore[no-any-return]


async def status_of(gw: httpx.AsyncClient, code: str, wanted: set[str]) -> dict[str, Any]:
    async def reached() -> Any:
        items = (await gw.get(f"/v1/enterprises/{code}/entitlements")).json()["items"]
        return items[0] if len(items) == 1 and items[0]["status"] in wanted else None

    return await poll(f"{code} to reach {wanted}", reached)  # type: ignore[no-any-return]


async def test_a_rent_reduction_is_confirmed_without_an_account_and_carried_out_by_its_department(
    stack: LocalStack,
) -> None:
    code = testing.make_uscc()
    async with (
        httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30, auth=AutoAuth(load_registry())) as gw,
        httpx.AsyncClient(base_url=stack.url("finance-sim"), timeout=30) as finance,
    ):
        assert (await gw.post("/v1/data-events", json={"records": [lease(code)]})).status_code == 202
        request = await request_for(gw, code)
        assert request["amount_fen"] == 18_000_000  # 3 months free + 12 at half of 2万元 = 9 months
        accepted = await gw.post(f"/v1/enterprises/{code}/confirmations/{request['confirmation_id']}/accept", json={})
        assert accepted.status_code == 200, accepted.text

        async def issued() -> Any:
            r = await gw.get("/v1/departments/gzw/instructions", params={"status": "issued"})
            return [i for i in r.json()["items"] if i["uscc"] == code] if r.status_code == 200 else None

        [instruction] = await poll("the instruction to 市国资委", issued)
        assert instruction["amount_fen"] == 18_000_000
        elsewhere = await gw.post(
            f"/v1/departments/gxj/instructions/{instruction['instruction_id']}/acknowledgement",
            json={"reference": "GXJ-1", "executed_on": "2026-11-20", "amount_fen": 18_000_000},
        )
        assert elsewhere.status_code == 404, "another department cannot acknowledge 国资委's instruction"
        ack = await gw.post(
            f"/v1/departments/gzw/instructions/{instruction['instruction_id']}/acknowledgement",
            json={"reference": f"GZW-JM-{code[-6:]}", "executed_on": "2026-11-20", "amount_fen": 18_000_000},
        )
        assert ack.status_code == 200, ack.text
        done = await status_of(gw, code, {"executed"})
        assert done["amount_fen"] == 18_000_000
        submissions = (await finance.get("/_sim/instructions")).json()
        assert not [i for i in submissions if code in i["payee"]["name"]], "a reduction never reaches the treasury"


async def test_a_policy_out_of_budget_waits_and_pays_once_the_budget_is_raised(stack: LocalStack) -> None:
    first, second = testing.make_uscc(), testing.make_uscc()
    year = str(date.today().year)
    async with httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30, auth=AutoAuth(load_registry())) as gw:
        # Other tests on this stack pay under the same policy: room for exactly one
        # more 100万元 award, not two, on top of what is already committed.
        before = await burn_of(gw, year)
        committed = before["reserved_fen"] + before["spent_fen"]
        await set_budget(gw, year, committed + 150_000_000, expect=200)
        for code in (first, second):
            assert (await gw.post("/v1/data-events", json={"records": [app_solution(code)]})).status_code == 202
        for code in (first, second):
            request = await request_for(gw, code)
            account = {"account_name": f"企业{code}", "account_number": "6222020200001234567", "bank_name": "中国银行"}
            accepted = await gw.post(
                f"/v1/enterprises/{code}/confirmations/{request['confirmation_id']}/accept",
                json={"bank_account": account},
            )
            assert accepted.status_code == 200, accepted.text
            # One at a time, so which one waits is known.
            await status_of(gw, code, {"paid", "budget_exhausted"})
        assert (await status_of(gw, first, {"paid"}))["status"] == "paid"
        waiting = await status_of(gw, second, {"budget_exhausted"})
        assert "预算" in waiting["status_text"]

        after = await burn_of(gw, year)
        assert after["spent_fen"] - before["spent_fen"] == 100_000_000
        assert (after["remaining_fen"], after["waiting"]) == (50_000_000, 1)

        await set_budget(gw, year, committed + 90_000_000, expect=409)  # below what it already paid
        await set_budget(gw, year, committed + 200_000_000, expect=200)
        assert (await status_of(gw, second, {"paid"}))["status"] == "paid"
        assert (await burn_of(gw, year))["spent_fen"] - before["spent_fen"] == 200_000_000
        balance = (await gw.get("/v1/operator/ledger/balance")).json()
        assert balance["balanced"] is True


async def burn_of(gw: httpx.AsyncClient, year: str) -> dict[str, Any]:
    burn = (await gw.get("/v1/operator/budgets", params={"year": year})).json()
    [row] = [b for b in burn["items"] if b["policy_id"] == APP_POLICY]
    return row  # type: ignore[no-any-return]


async def set_budget(gw: httpx.AsyncClient, year: str, total_fen: int, *, expect: int) -> None:
    r = await gw.put(
        f"/v1/operator/budgets/{APP_POLICY}/{year}",
        json={"total_fen": total_fen, "reason": "年度预算调整（测试）"},
        headers=OPERATOR,
    )
    assert r.status_code == expect, r.text
