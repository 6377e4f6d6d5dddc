"""Processes killed with SIGKILL in the middle of the work: nothing accepted is
lost, nobody is paid twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import date
from typing import Any

import httpx
import pytest

from gateway.testing import AutoAuth, load_registry
from mianshen_shared import testing
from mianshen_shared.events import parse_envelope
from mianshen_shared.stack import LocalStack
from mianshen_shared.topics import physical

pytestmark = pytest.mark.chaos
ACCOUNT = {"account_name": "郑州示例科技有限公司", "account_number": "6222020200001234567", "bank_name": "中国工商银行"}


def giant(code: str) -> dict[str, Any]:
    return testing.make_record(
        record_type="miit.sme_title_recognized",
        department="gxj",
        uscc_code=code,
        attributes={"title": "national_little_giant", "document_no": "工信厅企业函〔2022〕191号"},
        effective_date=date(2022, 8, 20),
    )


async def poll(what: str, fetch: Any, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await fetch():
            return result
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


async def pending(gw: httpx.AsyncClient, code: str) -> list[dict[str, Any]]:
    r = await gw.get(f"/v1/enterprises/{code}/confirmations", params={"status": "pending"})
    return r.json()["items"] if r.status_code == 200 else []


async def statuses(gw: httpx.AsyncClient, code: str) -> list[str]:
    r = await gw.get(f"/v1/enterprises/{code}/entitlements")
    return [i["status"] for i in r.json()["items"]] if r.status_code == 200 else []


async def test_payment_killed_after_the_finance_system_applied_but_before_it_answered_pays_once(
    make_stack: Any,
) -> None:
    stack: LocalStack = await make_stack(MIANSHEN_FINANCE_TIMEOUT_SECONDS="1")
    code = testing.make_uscc()
    async with (
        httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30, auth=AutoAuth(load_registry())) as gw,
        httpx.AsyncClient(base_url=stack.url("finance-sim"), timeout=30) as finance,
    ):
        # The finance system will apply the next instruction and never answer.
        (await finance.post("/_sim/faults", json={"mode": "drop_after_apply", "count": 1})).raise_for_status()
        assert (await gw.post("/v1/data-events", json={"records": [giant(code)]})).status_code == 202
        [request] = await poll("a confirmation request", lambda: pending(gw, code))
        accepted = await gw.post(
            f"/v1/enterprises/{code}/confirmations/{request['confirmation_id']}/accept", json={"bank_account": ACCOUNT}
        )
        assert accepted.status_code == 200

        async def applied() -> Any:
            return [i for i in await _instructions(finance) if i["payee"]["name"] == ACCOUNT["account_name"]]

        await poll("the finance system to apply the instruction", applied)
        stack.kill("payment")  # mid-flight: money moved, the answer never came back
        stack.restart("payment")
        assert await poll("the payment to be resolved", lambda: _paid(gw, code)) == ["paid"]

        instructions = await _instructions(finance)
        mine = [
            i for i in instructions if i["payee"]["name"] == ACCOUNT["account_name"] and i["amount_fen"] == 200_000_000
        ]
        assert len(mine) == 1, "paid more than once"
    issued = await _events(stack, "payments", "payment.issued")
    assert [e.subject for e in issued].count(code) == 1


async def test_consumers_killed_mid_stream_lose_nothing_and_open_one_request_per_entitlement(make_stack: Any) -> None:
    stack: LocalStack = await make_stack()
    codes = [testing.make_uscc() for _ in range(300)]
    async with httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30, auth=AutoAuth(load_registry())) as gw:
        for i in range(0, len(codes), 50):
            r = await gw.post("/v1/data-events", json={"records": [giant(c) for c in codes[i : i + 50]]})
            assert r.status_code == 202
        await asyncio.sleep(0.3)
        stack.kill("eligibility")
        stack.restart("eligibility")
        stack.kill("confirmation")
        stack.restart("confirmation")

        async def all_requested() -> bool:
            counts = await asyncio.gather(*(pending(gw, c) for c in codes))
            return all(len(c) >= 1 for c in counts)

        await poll("a confirmation request for every enterprise", all_requested, timeout=180)
        requests = await asyncio.gather(*(pending(gw, c) for c in codes))
        assert all(len(r) == 1 for r in requests), "an enterprise was asked twice"
        assert {r[0]["amount_fen"] for r in requests} == {200_000_000}
    determined = Counter(e.subject for e in await _events(stack, "entitlements", "entitlement.determined"))
    assert set(determined) == set(codes), "an accepted record was lost"


async def _instructions(finance: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await finance.get("/_sim/instructions")
    r.raise_for_status()
    return r.json()  # type: ignore[no-any-return]


async def _paid(gw: httpx.AsyncClient, code: str) -> list[str] | None:
    found = await statuses(gw, code)
    return found if found and all(s in {"paid", "payment_failed"} for s in found) else None


async def _events(stack: LocalStack, topic: str, event_type: str) -> list[Any]:
    async with testing.TopicReader(physical(topic, stack.topic_prefix)) as reader:
        for _ in range(20):
            await reader.poll()
    return [e for e in (parse_envelope(m.value) for m in reader.messages) if e.type == event_type]
