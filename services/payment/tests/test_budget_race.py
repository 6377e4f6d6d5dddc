"""The budget under concurrency, on the real PostgreSQL and the finance simulator in
its own process: however many workers race, a budget for 20 payments pays 20."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from finance_sim import testing as sim_testing
from mianshen_shared.runtime import Runtime
from payment import budget, service
from payment.bootstrap import bootstrap
from payment.config import Settings
from payment.finance import FinanceClient
from payment.models import Budget, LedgerEntry, Payment
from payment.money_repository import BudgetRepository
from payment.worker import PaymentWorker

from .money_support import payment, payment_runtime

pytestmark = pytest.mark.integration
POLICY = "zz-race-award"
AMOUNT = 100_000
WORKERS = 4


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sim_testing.SimulatorProcess]:
    with sim_testing.running(tmp_path_factory.mktemp("finance") / "finance.sqlite") as running:
        yield running


async def drain(workers: list[PaymentWorker]) -> None:
    """Run every worker side by side until none finds anything to do."""
    idle_rounds = 0
    while idle_rounds < 2:
        done = await asyncio.gather(*(w.run_once() for w in workers))
        idle_rounds = idle_rounds + 1 if sum(done) == 0 else 0


async def statuses(runtime: Runtime) -> dict[tuple[str, str | None], int]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            sa.select(Payment.status, Payment.stage, sa.func.count()).group_by(Payment.status, Payment.stage)
        )
        return {(status, stage): n for status, stage, n in rows.all()}


async def progressed_stages(runtime: Runtime) -> list[str]:
    async with runtime.sessions() as session:
        payloads = await session.scalars(sa.text("SELECT payload FROM outbox"))
        events = [json.loads(bytes(p)) for p in payloads]
    return [e["data"]["stage"] for e in events if e["type"] == "payment.progressed"]


async def test_fifty_payments_racing_for_a_budget_of_twenty_pay_exactly_twenty(pg_database, sim) -> None:
    url = await pg_database("payment")
    year = budget.fiscal_year_of(datetime.now(UTC))
    async with payment_runtime(url) as runtime:
        start = datetime.now(UTC) - timedelta(minutes=5)
        async with runtime.sessions() as session, session.begin():
            session.add_all(
                [
                    payment(amount_fen=AMOUNT, policy_id=POLICY, created_at=start + timedelta(seconds=i))
                    for i in range(50)
                ]
            )
            await budget.set_allocation(
                BudgetRepository(session),
                policy_id=POLICY,
                fiscal_year=year,
                total_fen=20 * AMOUNT,
                actor="ops-1",
                reason="年初预算",
                now=start,
            )
        # Each worker its own process-like runtime: its own engine and connection pool.
        runtimes = [bootstrap(Settings(database_url=url, messaging_enabled=False)) for _ in range(WORKERS)]
        finances = [FinanceClient(sim.url, timeout_seconds=5.0) for _ in range(WORKERS)]
        workers = [
            PaymentWorker(
                sessions=r.sessions,
                outbox=r.outbox,
                finance=f,
                policy=service.RetryPolicy(base_seconds=0.05),
                payer_budget_code="410100-HQZC-001",
                batch_size=7,
            )
            for r, f in zip(runtimes, finances, strict=True)
        ]
        try:
            await drain(workers)

            settled = await sim.instructions()
            assert len(settled) == 20, "the finance system's own books show exactly the budget's worth"
            assert await statuses(runtime) == {("succeeded", "submitted"): 20, ("pending", "budget_exhausted"): 30}
            async with runtime.sessions() as session:
                row = await session.get(Budget, (POLICY, year))
                assert row is not None and (row.reserved_fen, row.spent_fen) == (0, 20 * AMOUNT)
                journals = await session.scalar(sa.select(sa.func.count(sa.distinct(LedgerEntry.journal_id))))
                assert journals == 20
            assert (await progressed_stages(runtime)).count("budget_exhausted") == 30

            # Five more payments' worth: the five oldest of those waiting go (one worker,
            # so that the order of its claims is the order of the reservations).
            async with runtime.sessions() as session:
                rows = await session.execute(
                    sa.select(Payment.created_at, Payment.payment_id).where(Payment.stage == "budget_exhausted")
                )
                oldest_waiting = {payment_id for _at, payment_id in sorted(rows.all())[:5]}
            async with runtime.sessions() as session, session.begin():
                await budget.set_allocation(
                    BudgetRepository(session),
                    policy_id=POLICY,
                    fiscal_year=year,
                    total_fen=25 * AMOUNT,
                    actor="ops-2",
                    reason="追加预算",
                    now=datetime.now(UTC),
                )
            await drain(workers[:1])
            async with runtime.sessions() as session:
                newly_paid = set(
                    await session.scalars(
                        sa.select(Payment.payment_id).where(
                            Payment.status == "succeeded", Payment.payment_id.in_(oldest_waiting)
                        )
                    )
                )
            assert newly_paid == oldest_waiting, "a raised budget pays the oldest waiting payments first"
            assert await statuses(runtime) == {("succeeded", "submitted"): 25, ("pending", "budget_exhausted"): 25}
            assert len(await sim.instructions()) == 25
            assert (await progressed_stages(runtime)).count("budget_exhausted") == 30, "announced once on entering"
        finally:
            for f in finances:
                await f.aclose()
            for r in runtimes:
                await r.engine.dispose()
