"""Payments driven at random against the finance simulator (in process), with faults
armed at random: the money invariants hold after every step, and once the faults
stop every payment ends paid exactly when the finance system settled it."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from finance_sim.app import create_app as create_finance_sim
from mianshen_shared import db
from mianshen_shared.runtime import Runtime
from payment import budget, ledger, service
from payment.bootstrap import bootstrap
from payment.config import Settings
from payment.finance import FinanceClient
from payment.models import Budget, Payment
from payment.money_repository import BudgetRepository
from payment.worker import PaymentWorker

from .money_support import payment

pytestmark = pytest.mark.integration
POLICY = "zz-hypothesis-award"
AMOUNT = 100_000
CLIENT_DEADLINE = 0.05
START = datetime(2026, 11, 25, 2, tzinfo=UTC)
YEAR = budget.fiscal_year_of(START)


class DeadlineTransport(httpx.AsyncBaseTransport):
    """The client's read timeout, for an app served in process: an answer later than
    the deadline is lost, whatever the app did meanwhile."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await asyncio.wait_for(self._inner.handle_async_request(request), CLIENT_DEADLINE)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("no answer in time", request=request) from exc


@pytest.fixture(scope="module")
def template() -> Iterator[Path]:
    """One migrated database, copied for every example."""
    folder = Path(tempfile.mkdtemp(prefix="payment-hypothesis-"))
    path = folder / "template.sqlite"
    asyncio.run(db.migrate("payment.migrations", f"sqlite+aiosqlite:///{path}"))
    yield path
    shutil.rmtree(folder, ignore_errors=True)


class MoneyMachine(RuleBasedStateMachine):
    template: Path

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp(prefix="payment-example-"))
        database = self.folder / "payment.sqlite"
        shutil.copy(self.template, database)
        self.runtime: Runtime = bootstrap(
            Settings(database_url=f"sqlite+aiosqlite:///{database}", messaging_enabled=False, environment="test")
        )
        self.sim = create_finance_sim(":memory:", timeout_delay_seconds=1.0)
        transport = DeadlineTransport(httpx.ASGITransport(app=self.sim))
        self.control = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.sim), base_url="http://finance")
        self.finance = FinanceClient("http://finance", timeout_seconds=5.0, transport=transport)
        self.now = START
        self.worker = PaymentWorker(
            sessions=self.runtime.sessions,
            outbox=self.runtime.outbox,
            finance=self.finance,
            policy=service.RetryPolicy(max_attempts=3, base_seconds=1, max_seconds=30, lease_seconds=5),
            payer_budget_code="410100-HQZC-001",
            clock=lambda: self.now,
        )
        self.run(self._allocate(3))

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _allocate(self, payments: int) -> None:
        async with self.runtime.sessions() as session, session.begin():
            await budget.set_allocation(
                BudgetRepository(session),
                policy_id=POLICY,
                fiscal_year=YEAR,
                total_fen=payments * AMOUNT,
                actor="ops",
                reason="测试",
                now=self.now,
            )

    # --- rules ------------------------------------------------------------------------

    @rule()
    def accept_a_payment(self) -> None:
        async def add() -> None:
            async with self.runtime.sessions() as session, session.begin():
                session.add(payment(amount_fen=AMOUNT, policy_id=POLICY, created_at=self.now))

        self.run(add())

    @rule(mode=st.sampled_from(["fail", "timeout", "drop_after_apply", "reject"]), count=st.integers(1, 3))
    def arm_a_fault(self, mode: str, count: int) -> None:
        self.run(self.control.post("/_sim/faults", json={"mode": mode, "count": count})).raise_for_status()

    @rule()
    def work(self) -> None:
        self.run(self.worker.run_once())

    @rule(seconds=st.sampled_from([1, 10, 60, 600]))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(payments=st.integers(0, 8))
    def set_the_budget(self, payments: int) -> None:
        async def allocate() -> None:
            try:
                await self._allocate(payments)
            except Exception as exc:  # lowering below what is committed is refused
                assert getattr(exc, "status", None) == 409

        self.run(allocate())

    # --- invariants ---------------------------------------------------------------------

    async def _state(self) -> tuple[list[Payment], dict[str, Any], Budget | None, ledger.Balance]:
        instructions = (await self.control.get("/_sim/instructions")).json()
        async with self.runtime.sessions() as session:
            payments = list(await session.scalars(sa.select(Payment)))
            row = await session.get(Budget, (POLICY, YEAR))
            balance = await ledger.balance(session)
        keys = [i["idempotency_key"] for i in instructions]
        assert len(keys) == len(set(keys)), "two settled instructions under one key"
        return payments, {i["idempotency_key"]: i for i in instructions}, row, balance

    @invariant()
    def the_books_hold(self) -> None:
        payments, settled, row, balance = self.run(self._state())
        assert balance.balanced
        succeeded = [p for p in payments if p.status == "succeeded"]
        for p in succeeded:
            assert p.idempotency_key in settled, "paid in our books, not in the finance system's"
        for p in payments:
            if p.status == "failed":
                assert p.idempotency_key not in settled, "failed here, yet settled there"
        assert row is not None
        assert row.reserved_fen >= 0 and row.spent_fen >= 0 and row.reserved_fen + row.spent_fen <= row.total_fen
        assert row.spent_fen == sum(p.amount_fen for p in succeeded)
        assert balance.debit_fen == row.spent_fen

    def teardown(self) -> None:
        try:
            self.run(self.control.delete("/_sim/faults"))
            for _ in range(30):
                self.now += timedelta(minutes=10)
                self.run(self.worker.run_once())
            payments, settled, row, _balance = self.run(self._state())
            for p in payments:
                assert p.status not in ("submitted", "unknown"), f"{p.status} left after the faults stopped"
                assert (p.status == "succeeded") == (p.idempotency_key in settled)
            assert row is not None and row.reserved_fen == 0
        finally:
            self.run(self.finance.aclose())
            self.run(self.control.aclose())
            self.run(self.runtime.engine.dispose())
            self.loop.close()
            shutil.rmtree(self.folder, ignore_errors=True)


def test_money_invariants_hold_whatever_the_finance_system_does(template: Path) -> None:
    MoneyMachine.template = template
    run_state_machine_as_test(
        MoneyMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
