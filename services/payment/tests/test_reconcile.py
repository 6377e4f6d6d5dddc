"""对账 on the real PostgreSQL against the finance simulator's statement (in process)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from payment import budget, ledger, reconcile, service
from payment.models import Budget, Payment
from payment.money_repository import BudgetRepository
from payment.worker import PaymentWorker

from .money_support import finance_client, in_process_finance, payment, payment_runtime

pytestmark = pytest.mark.integration
POLICY = "zz-reconcile-award"
AMOUNT = 250_000


async def outbox_events(runtime: Any, event_type: str) -> list[dict[str, Any]]:
    async with runtime.sessions() as session:
        payloads = await session.scalars(sa.text("SELECT payload FROM outbox"))
        return [e for e in (json.loads(bytes(p)) for p in payloads) if e["type"] == event_type]


async def test_reconciliation_reports_each_kind_of_difference_and_books_a_return(pg_database) -> None:
    _sim, transport = in_process_finance()
    now = datetime.now(UTC)
    year = budget.fiscal_year_of(now)
    today = now.astimezone(reconcile.SHANGHAI).date()
    async with payment_runtime(await pg_database("payment")) as runtime:
        paid = [payment(amount_fen=AMOUNT, policy_id=POLICY, created_at=now - timedelta(seconds=i)) for i in range(3)]
        async with runtime.sessions() as session, session.begin():
            session.add_all(paid)
            await budget.set_allocation(
                BudgetRepository(session),
                policy_id=POLICY,
                fiscal_year=year,
                total_fen=10 * AMOUNT,
                actor="ops",
                reason="预算",
                now=now,
            )
        finance = finance_client(transport)
        worker = PaymentWorker(
            sessions=runtime.sessions,
            outbox=runtime.outbox,
            finance=finance,
            policy=service.RetryPolicy(),
            payer_budget_code="410100-HQZC-001",
        )
        while await worker.run_once():
            pass
        # We think one more is paid than the finance system does; it settled one we never sent.
        phantom = payment(amount_fen=AMOUNT, policy_id=POLICY)
        phantom.status, phantom.issued_at, phantom.finance_reference = "succeeded", now, "CZ-phantom"
        async with runtime.sessions() as session, session.begin():
            session.add(phantom)
        async with httpx.AsyncClient(transport=transport, base_url="http://finance") as sim:
            stranger = {
                "idempotency_key": "mjx-stranger",
                "payer_budget_code": "410100-HQZC-001",
                "payee": {"name": "某公司", "account_number": "6222000011112222", "bank_name": "某银行"},
                "amount_fen": 1,
                "purpose": "x",
                "reference": "x",
            }
            assert (await sim.post("/api/v1/payment-instructions", json=stranger)).status_code == 201
            returned_key = paid[0].idempotency_key
            assert (await sim.post(f"/_sim/instructions/{returned_key}/return", json={})).status_code == 200
            statement = await reconcile.fetch_statement(sim, today)

        async with runtime.sessions() as session, session.begin():

            async def emit(payload: Any, *, key: str, correlation_id: str) -> None:
                await runtime.outbox.add(session, payload, key=key, correlation_id=correlation_id)

            run = await reconcile.reconcile(session, statement, now=datetime.now(UTC), emit=emit)
            differences = await reconcile.ReconciliationRepository(session).differences(run.run_id)

        assert sorted((d.kind, d.idempotency_key) for d in differences) == sorted(
            [
                ("missing_in_finance", phantom.idempotency_key),
                ("missing_in_ledger", "mjx-stranger"),
                ("returned", returned_key),
            ]
        )
        assert (run.statement_count, run.our_count) == (4, 4)
        async with runtime.sessions() as session:
            back = await session.get(Payment, paid[0].payment_id)
            row = await session.get(Budget, (POLICY, year))
            balance = await ledger.balance(session)
        assert back is not None and (back.status, back.failure_code) == ("returned", "returned")
        assert row is not None and (row.reserved_fen, row.spent_fen) == (0, 2 * AMOUNT), (
            "the return gave its money back"
        )
        assert balance.balanced
        expense = {a: d - c for a, d, c in balance.accounts}[ledger.expense_account(POLICY, year)]
        assert expense == 2 * AMOUNT
        [failed] = await outbox_events(runtime, "payment.failed")
        assert (failed["data"]["reason_code"], failed["data"]["payment_id"]) == ("returned", str(paid[0].payment_id))

        # Once booked, a return is not booked again.
        async with runtime.sessions() as session, session.begin():
            again = await reconcile.reconcile(session, statement, now=datetime.now(UTC), emit=emit)
            kinds = [d.kind for d in await reconcile.ReconciliationRepository(session).differences(again.run_id)]
        assert "returned" not in kinds
        assert len(await outbox_events(runtime, "payment.failed")) == 1
        await finance.aclose()
