"""Budgets through the operator API (on the embedded SQLite), and the allocations
received from the finance system."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from payment import budget
from payment.config import Settings
from payment.main import create_app
from payment.models import BudgetChange, Payment

from .money_support import in_process_finance, payment

pytestmark = pytest.mark.integration
POLICY = "zz-budget-award"
CITY_POLICY = "zz-2022-02-specialized-sme-award"
OPS = {"X-Actor": "ops.li"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'payment.sqlite'}", messaging_enabled=False, environment="test"
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://payment") as client,
    ):
        yield {"client": client, "runtime": app.state.runtime, "settings": settings}


async def put(client: httpx.AsyncClient, total_fen: Any, *, year: int = 2026, **extra: Any) -> httpx.Response:
    return await client.put(
        f"/budgets/{POLICY}/{year}", json={"total_fen": total_fen, "reason": "年初预算", **extra}, headers=OPS
    )


async def test_an_operator_sets_a_budget_and_the_change_is_kept_with_who_and_why(api) -> None:
    client = api["client"]
    response = await put(client, 5_000_000)
    assert response.status_code == 200
    assert response.json() | {"updated": None} == {
        "policy_id": POLICY,
        "fiscal_year": 2026,
        "budget_code": None,
        "total_fen": 5_000_000,
        "reserved_fen": 0,
        "spent_fen": 0,
        "remaining_fen": 5_000_000,
        "waiting": 0,
        "source": "operator",
        "updated": None,
    }
    await put(client, 6_000_000)
    async with api["runtime"].sessions() as session:
        changes = list(await session.scalars(sa.select(BudgetChange).order_by(BudgetChange.id)))
    assert [(c.previous_total_fen, c.total_fen, c.actor, c.reason) for c in changes] == [
        (None, 5_000_000, "ops.li", "年初预算"),
        (5_000_000, 6_000_000, "ops.li", "年初预算"),
    ]


async def test_a_budget_cannot_be_lowered_below_what_is_reserved_and_spent(api) -> None:
    client, runtime = api["client"], api["runtime"]
    await put(client, 1_000_000)
    waiting = payment(amount_fen=600_000, policy_id=POLICY)
    async with runtime.sessions() as session, session.begin():
        from payment.money_repository import BudgetRepository

        assert await BudgetRepository(session).reserve(POLICY, 2026, 700_000, datetime.now(UTC))
        waiting.stage, waiting.budget_year, waiting.next_attempt_at = "budget_exhausted", 2026, None
        session.add(waiting)
    refused = await put(client, 699_999)
    assert refused.status_code == 409
    assert refused.json()["code"] == "budget_below_committed"
    listing = (await client.get("/budgets", params={"year": 2026})).json()["items"]
    [mine] = [b for b in listing if b["policy_id"] == POLICY]
    assert (mine["total_fen"], mine["reserved_fen"], mine["remaining_fen"], mine["waiting"]) == (
        1_000_000,
        700_000,
        300_000,
        1,
    )

    assert (await put(client, 1_300_000)).status_code == 200
    async with runtime.sessions() as session:
        woken = await session.get(Payment, waiting.payment_id)
    assert woken is not None and woken.next_attempt_at == waiting.created_at, "raising the budget wakes it"


async def test_the_city_figure_shows_as_the_allocation_until_one_is_set(api) -> None:
    listing = (await api["client"].get("/budgets", params={"year": 2026})).json()["items"]
    [city_row] = [b for b in listing if b["policy_id"] == CITY_POLICY]
    assert (city_row["total_fen"], city_row["source"]) == (12_000_000_000, "city")


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "code"),
    [
        (f"/budgets/{POLICY}/2026", "{not json", {"content-type": "application/json", **OPS}, 400, None),
        (f"/budgets/{POLICY}/2026", {"total_fen": 1, "reason": "x", "extra": 1}, OPS, 422, "validation_failed"),
        (f"/budgets/{POLICY}/2026", {"total_fen": 1}, OPS, 422, "validation_failed"),
        (f"/budgets/{POLICY}/2026", {"total_fen": -1, "reason": "x"}, OPS, 422, "validation_failed"),
        (f"/budgets/{POLICY}/2026", {"total_fen": 1.5, "reason": "x"}, OPS, 422, "validation_failed"),
        (f"/budgets/{POLICY}/2026", {"total_fen": 1, "reason": "x"}, {}, 400, "actor_required"),
        (f"/budgets/{POLICY}/2026", {"total_fen": 1, "reason": "x"}, {"X-Actor": "li si/ops"}, 422, "invalid_actor"),
        ("/budgets/-bad-/2026", {"total_fen": 1, "reason": "x"}, OPS, 422, "validation_failed"),
        (f"/budgets/{POLICY}/1999", {"total_fen": 1, "reason": "x"}, OPS, 422, "validation_failed"),
    ],
)
async def test_a_bad_budget_request_is_refused_with_a_problem(api, path, body, headers, status, code) -> None:
    client = api["client"]
    if isinstance(body, str):
        response = await client.put(path, content=body, headers=headers)
    else:
        response = await client.put(path, json=body, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    if code:
        assert response.json()["code"] == code


async def test_reads_refuse_bad_parameters_and_unknown_runs(api) -> None:
    client = api["client"]
    assert (await client.get("/budgets", params={"year": "abc"})).status_code == 422
    assert (await client.get("/reconciliations/not-a-uuid")).status_code == 422
    missing = await client.get("/reconciliations/00000000-0000-0000-0000-000000000000")
    assert (missing.status_code, missing.json()["code"]) == (404, "reconciliation_not_found")
    assert (await client.post("/reconciliations", json={"date": "2026-13-01"})).status_code == 422
    assert (await client.post("/reconciliations", json={"date": "2026-11-25", "x": 1})).status_code == 422
    balance = (await client.get("/ledger/balance")).json()
    assert (balance["balanced"], balance["debit_fen"], balance["accounts"]) == (True, 0, [])


async def test_allocations_from_the_finance_system_become_budgets(api) -> None:
    _sim, transport = in_process_finance()
    async with httpx.AsyncClient(transport=transport, base_url="http://finance") as finance:
        allocations = [{"budget_code": "410100-HQZC-001", "policy_id": POLICY, "amount_fen": 9_000_000}]
        assert (await finance.put("/_sim/budgets/2026", json={"allocations": allocations})).status_code == 200
    results = await budget.sync(api["settings"], 2026, transport=transport)
    assert results == {POLICY: "set"}
    assert await budget.sync(api["settings"], 2026, transport=transport) == {POLICY: "unchanged"}
    [mine] = [
        b
        for b in (await api["client"].get("/budgets", params={"year": 2026})).json()["items"]
        if b["policy_id"] == POLICY
    ]
    assert (mine["total_fen"], mine["source"], mine["budget_code"]) == (9_000_000, "finance", "410100-HQZC-001")
