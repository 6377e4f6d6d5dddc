"""The money path under faults: processes killed with SIGKILL at random moments,
the Kafka broker restarted, PostgreSQL crash-restarted, the finance system failing,
timing out and applying-then-dropping. After recovery every accepted entitlement
is paid exactly once (by the finance simulator's own log), nobody listed as 失信 is
paid, every ledger journal balances and no budget is overspent.

Each test prints its figures (enterprises, accepted, paid, kills, faults) so the
numbers can be quoted; `-s` shows them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.testing import AutoAuth, load_registry
from mianshen_shared import testing
from mianshen_shared.config import REPO_ROOT
from mianshen_shared.stack import LocalStack
from tests.chaos.money import Chaos, Enterprises, check_money_invariants, patiently

pytestmark = pytest.mark.chaos

# Finance calls time out fast, so faults resolve within the test (公示 is zero days
# on every chaos stack, see conftest.py).
FAST = {"MIANSHEN_FINANCE_TIMEOUT_SECONDS": "1"}


def _seed() -> int:
    return int(os.environ.get("CHAOS_SEED", "20261125"))


async def test_services_killed_at_random_points_pay_every_accepted_entitlement_exactly_once(make_stack: Any) -> None:
    stack: LocalStack = await make_stack(**FAST)
    people = Enterprises([testing.make_uscc() for _ in range(48)])
    people.blacklisted = set(people.codes[:6])
    async with (
        httpx.AsyncClient(base_url=stack.url("gateway"), timeout=15, auth=AutoAuth(load_registry())) as gw,
        httpx.AsyncClient(base_url=stack.url("finance-sim"), timeout=15) as finance,
    ):
        chaos = Chaos(
            stack,
            finance,
            seed=_seed(),
            victims=["gateway", "eligibility", "confirmation", "credit-check", "payment"],
        )
        await people.push(gw)
        await asyncio.gather(chaos.run(kills=10), people.accept_everything(gw, until=lambda: chaos.stopped))
        await (await patiently(lambda: finance.delete("/_sim/faults"))).aread()
        await people.wait_until_settled(gw)
        figures = await check_money_invariants(stack, finance, people)
    print(f"\nrandom kills (seed {_seed()}): {figures}, kills {dict(chaos.kills)}, faults {dict(chaos.faults)}")
    assert set(chaos.kills) == set(chaos.victims) and min(chaos.kills.values()) == 2, chaos.kills
    assert set(chaos.faults) == {"fail", "timeout", "drop_after_apply"}, chaos.faults
    assert figures["paid"] == len(people.codes) - len(people.blacklisted)


async def test_kafka_broker_restarted_mid_flow_loses_nothing(make_stack: Any) -> None:
    stack: LocalStack = await make_stack(**FAST)
    people = Enterprises([testing.make_uscc() for _ in range(24)])
    people.blacklisted = set(people.codes[:3])
    async with (
        httpx.AsyncClient(base_url=stack.url("gateway"), timeout=15, auth=AutoAuth(load_registry())) as gw,
        httpx.AsyncClient(base_url=stack.url("finance-sim"), timeout=15) as finance,
    ):
        await people.push(gw)
        accepting_done = False
        accepting = asyncio.create_task(people.accept_everything(gw, until=lambda: accepting_done))
        await asyncio.sleep(4.0)
        await _run(["deploy/local/kafka/kafka.sh", "restart"])
        await asyncio.sleep(6.0)
        accepting_done = True
        await accepting
        await people.wait_until_settled(gw, timeout=300)
        figures = await check_money_invariants(stack, finance, people)
    print(f"\nkafka restart: {figures}")
    assert figures["paid"] == len(people.codes) - len(people.blacklisted)


async def test_postgres_crash_restarted_mid_flow_loses_nothing(make_stack: Any) -> None:
    stack: LocalStack = await make_stack(**FAST)
    people = Enterprises([testing.make_uscc() for _ in range(24)])
    people.blacklisted = set(people.codes[:3])
    async with (
        httpx.AsyncClient(base_url=stack.url("gateway"), timeout=15, auth=AutoAuth(load_registry())) as gw,
        httpx.AsyncClient(base_url=stack.url("finance-sim"), timeout=15) as finance,
    ):
        await people.push(gw)
        accepting_done = False
        accepting = asyncio.create_task(people.accept_everything(gw, until=lambda: accepting_done))
        await asyncio.sleep(4.0)
        await _run(["deploy/local/postgres/postgres.sh", "crash-restart"])
        await asyncio.sleep(6.0)
        accepting_done = True
        await accepting
        await people.wait_until_settled(gw, timeout=300)
        figures = await check_money_invariants(stack, finance, people)
    print(f"\npostgres crash-restart: {figures}")
    assert figures["paid"] == len(people.codes) - len(people.blacklisted)


async def _run(argv: list[str]) -> None:
    result = await asyncio.to_thread(
        subprocess.run, argv, cwd=Path(REPO_ROOT), capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, f"{argv} failed: {result.stdout}\n{result.stderr}"
