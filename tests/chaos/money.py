"""Driving the money path through a stack that is being broken, and checking
afterwards, from the finance simulator's own log and the payment database, that
nothing was lost or paid twice.

The driver is an impatient enterprise: it keeps asking the gateway for its
pending confirmation requests and accepts each one, and treats a refused
connection or a 5xx (a process was just killed) as "try again", never as an
answer.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from mianshen_shared import testing
from mianshen_shared.stack import LocalStack

GIANT_FEN = 200_000_000  # No. 2: 国家级专精特新“小巨人” 200万元
GIANT_POLICY = "zz-2022-02-specialized-sme-award"
SETTLED = {"paid", "payment_failed", "credit_held", "declined", "withdrawn"}


def account_name(code: str) -> str:
    """Every enterprise gets its own payee name, so the simulator's log says who was paid."""
    return f"混沌测试企业{code}"


def giant(code: str) -> dict[str, Any]:
    return testing.make_record(
        record_type="miit.sme_title_recognized",
        department="gxj",
        uscc_code=code,
        attributes={"title": "national_little_giant", "document_no": "工信厅企业函〔2022〕191号"},
        effective_date=date(2022, 8, 20),
    )


def dishonest(code: str, *, expires_on: date | None = None) -> dict[str, Any]:
    attributes: dict[str, Any] = {"authority": "郑州市中级人民法院", "document_no": f"（2026）豫01执{code[-5:]}号"}
    if expires_on is not None:
        attributes["expires_on"] = expires_on.isoformat()
    return testing.make_record(
        record_type="credit.dishonest_judgment_debtor",
        department="credit",
        uscc_code=code,
        attributes=attributes,
        effective_date=date(2026, 1, 5),
    )


async def patiently(call: Callable[[], Awaitable[httpx.Response]], *, timeout: float = 120.0) -> httpx.Response:
    """A call through a gateway that may be down for a moment: retry transport
    errors and 5xx until it answers for real."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = await call()
            if response.status_code < 500:
                return response
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("the gateway did not answer in time")
        await asyncio.sleep(0.3)


@dataclass
class Enterprises:
    """The driver's own record of what it did: the truth the checks compare with."""

    codes: list[str]
    blacklisted: set[str] = field(default_factory=set)
    accepted: dict[str, set[str]] = field(default_factory=dict)  # uscc -> entitlement ids

    async def push(self, gw: httpx.AsyncClient) -> None:
        # The credit department's batches first, as before; a batch is one department's.
        for records in ([dishonest(c) for c in sorted(self.blacklisted)], [giant(c) for c in self.codes]):
            for i in range(0, len(records), 50):
                batch = records[i : i + 50]
                r = await patiently(lambda batch=batch: gw.post("/v1/data-events", json={"records": batch}))  # type: ignore[misc]
                assert r.status_code == 202, r.text

    async def accept_everything(self, gw: httpx.AsyncClient, *, until: Callable[[], bool]) -> None:
        """Accept every request that appears, over and over, until told to stop."""
        while not until():
            for code in self.codes:
                await self._accept_pending(gw, code)
            await asyncio.sleep(0.5)

    async def _accept_pending(self, gw: httpx.AsyncClient, code: str) -> None:
        try:
            r = await gw.get(f"/v1/enterprises/{code}/confirmations", params={"status": "pending"})
        except httpx.TransportError:
            return
        if r.status_code != 200:
            return
        for item in r.json()["items"]:
            body = {
                "bank_account": {
                    "account_name": account_name(code),
                    "account_number": "6222020200001234567",
                    "bank_name": "中国工商银行郑州分行",
                }
            }
            try:
                answer = await gw.post(
                    f"/v1/enterprises/{code}/confirmations/{item['confirmation_id']}/accept", json=body
                )
            except httpx.TransportError:
                continue  # asked again on the next round; accepting twice is refused, never doubled
            if answer.status_code == 200:
                self.accepted.setdefault(code, set()).add(str(item["entitlement_id"]))

    async def statuses(self, gw: httpx.AsyncClient) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for code in self.codes:
            r = await patiently(lambda code=code: gw.get(f"/v1/enterprises/{code}/entitlements"))  # type: ignore[misc]
            found[code] = [i["status"] for i in r.json()["items"]]
        return found

    async def wait_until_settled(self, gw: httpx.AsyncClient, *, timeout: float = 240.0) -> dict[str, list[str]]:
        deadline = time.monotonic() + timeout
        while True:
            # Requests opened late (a consumer was down) are still accepted here.
            for code in self.codes:
                await self._accept_pending(gw, code)
            found = await self.statuses(gw)
            if all(s and all(x in SETTLED for x in s) for s in found.values()):
                return found
            if time.monotonic() > deadline:
                stuck = {c: s for c, s in found.items() if not s or any(x not in SETTLED for x in s)}
                raise AssertionError(f"not settled after {timeout}s: {dict(list(stuck.items())[:10])}")
            await asyncio.sleep(1.0)


class Chaos:
    """Kills (SIGKILL) a random service at random moments and restarts it, and
    tells the finance simulator to misbehave, until stopped. The seed is printed
    so a failing run can be replayed."""

    def __init__(self, stack: LocalStack, finance: httpx.AsyncClient, *, seed: int, victims: list[str]) -> None:
        self.stack = stack
        self.finance = finance
        self.rng = random.Random(seed)
        self.victims = list(victims)
        self.rng.shuffle(self.victims)
        self.kills: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.stopped = False

    async def run(self, kills: int) -> None:
        while sum(self.kills.values()) < kills:
            await asyncio.sleep(self.rng.uniform(1.5, 4.0))
            # The finance system misbehaves in each of its ways in turn as well.
            mode = ("fail", "timeout", "drop_after_apply")[sum(self.kills.values()) % 3]
            r = await self.finance.post("/_sim/faults", json={"mode": mode, "count": self.rng.randint(1, 3)})
            if r.status_code < 300:
                self.faults[mode] += 1
            # Every kind of process dies in turn, each at a moment of the seed's choosing.
            victim = self.victims[sum(self.kills.values()) % len(self.victims)]
            self.stack.kill(victim)
            self.kills[victim] += 1
            await asyncio.sleep(self.rng.uniform(0.0, 1.5))
            await asyncio.to_thread(self.stack.restart, victim)
        self.stopped = True


async def finance_instructions(finance: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await finance.get("/_sim/instructions")
    r.raise_for_status()
    return r.json()  # type: ignore[no-any-return]


async def payment_db(stack: LocalStack, query: str) -> list[Any]:
    url = stack.database_urls["payment"]
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(sa.text(query))).all())
    finally:
        await engine.dispose()


async def check_money_invariants(stack: LocalStack, finance: httpx.AsyncClient, people: Enterprises) -> dict[str, int]:
    """What must hold after any fault: returns the figures for the report."""
    instructions = await finance_instructions(finance)
    per_key = Counter(i["idempotency_key"] for i in instructions)
    assert all(n == 1 for n in per_key.values()), f"an idempotency key settled twice: {per_key.most_common(3)}"
    paid_to = Counter(i["payee"]["name"] for i in instructions if i["payee"]["name"].startswith("混沌测试企业"))
    mine = {account_name(c): c for c in people.codes}
    paid_codes = {mine[name] for name in paid_to if name in mine}
    assert all(n == 1 for name, n in paid_to.items() if name in mine), f"an enterprise was paid twice: {paid_to}"
    assert not (paid_codes & people.blacklisted), f"失信 enterprises paid: {paid_codes & people.blacklisted}"
    expected = {c for c in people.accepted if c not in people.blacklisted}
    assert paid_codes == expected, (
        f"accepted but not paid: {sorted(expected - paid_codes)[:5]}; paid but not accepted: "
        f"{sorted(paid_codes - expected)[:5]}"
    )
    succeeded = await payment_db(
        stack, "SELECT count(*), coalesce(sum(amount_fen), 0) FROM payments WHERE status = 'succeeded'"
    )
    unbalanced = await payment_db(
        stack,
        "SELECT journal_id FROM ledger_entries GROUP BY journal_id HAVING sum(debit_fen) <> sum(credit_fen)",
    )
    assert unbalanced == [], f"unbalanced journals: {unbalanced[:5]}"
    negative = await payment_db(
        stack,
        "SELECT policy_id FROM budgets WHERE reserved_fen < 0 OR spent_fen < 0 OR reserved_fen + spent_fen > total_fen",
    )
    assert negative == [], f"budget overspent or negative: {negative}"
    return {
        "enterprises": len(people.codes),
        "accepted": sum(len(v) for v in people.accepted.values()),
        "paid": len(paid_codes),
        "paid_fen": int(succeeded[0][1]),
        "instructions": len(instructions),
    }
