"""Operator routes of the money core: budgets, the ledger's balance, reconciliations.
Reached only through the gateway (/v1/operator/...), which names the operator in X-Actor."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Header, Path, Query

from mianshen_shared.api import Items, Offset
from mianshen_shared.problems import ProblemError
from mianshen_shared.web import DbSession, RuntimeDep
from payment import budget, ledger, reconcile
from payment.config import Settings
from payment.money_repository import BudgetRepository, ReconciliationRepository
from payment.schemas_money import (
    BudgetRead,
    BudgetSet,
    LedgerBalanceRead,
    ReconciliationCreate,
    ReconciliationRead,
)

router = APIRouter(tags=["money"])
_ACTOR = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
PolicyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$", description="政策编号")]
Year = Annotated[int, Path(ge=2000, le=2100, description="预算年度（北京时间自然年）")]


def _actor(value: str | None) -> str:
    if not value:
        raise ProblemError(400, "actor_required", "请在请求头 X-Actor 中注明操作人员编号")
    if not _ACTOR.match(value):
        raise ProblemError(422, "invalid_actor", "请求头 X-Actor 格式不正确：应为1至64位字母、数字或 . _ @ -")
    return value


@router.get("/budgets", response_model=Items[BudgetRead])
async def list_budgets(
    session: DbSession, year: Annotated[int | None, Query(ge=2000, le=2100)] = None
) -> Items[BudgetRead]:
    fiscal_year = year or budget.fiscal_year_of(datetime.now(UTC))
    burns = await budget.burn(BudgetRepository(session), fiscal_year=fiscal_year, seed=budget.city_seed())
    return Items(items=[BudgetRead.of(b) for b in burns])


@router.put("/budgets/{policy_id}/{year}", response_model=BudgetRead)
async def set_budget(
    session: DbSession,
    policy_id: PolicyId,
    year: Year,
    body: BudgetSet,
    x_actor: Annotated[str | None, Header(alias="X-Actor")] = None,
) -> BudgetRead:
    repo = BudgetRepository(session)
    await budget.set_allocation(
        repo,
        policy_id=policy_id,
        fiscal_year=year,
        total_fen=body.total_fen,
        actor=_actor(x_actor),
        reason=body.reason,
        now=datetime.now(UTC),
    )
    [burn] = [b for b in await budget.burn(repo, fiscal_year=year, seed={}) if b.policy_id == policy_id]
    return BudgetRead.of(burn)


@router.get("/ledger/balance", response_model=LedgerBalanceRead)
async def ledger_balance(session: DbSession) -> LedgerBalanceRead:
    return LedgerBalanceRead.of(await ledger.balance(session))


@router.get("/reconciliations", response_model=Items[ReconciliationRead])
async def list_reconciliations(
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Offset = 0,
) -> Items[ReconciliationRead]:
    runs = await ReconciliationRepository(session).runs(limit, offset)
    return Items(items=[ReconciliationRead.of(r) for r in runs])


@router.get("/reconciliations/{run_id}", response_model=ReconciliationRead)
async def get_reconciliation(session: DbSession, run_id: uuid.UUID) -> ReconciliationRead:
    repo = ReconciliationRepository(session)
    run = await repo.run(run_id)
    if run is None:
        raise ProblemError(404, "reconciliation_not_found", "未找到该对账记录")
    return ReconciliationRead.of(run, await repo.differences(run_id))


@router.post("/reconciliations", response_model=ReconciliationRead, status_code=201)
async def run_reconciliation(session: DbSession, runtime: RuntimeDep, body: ReconciliationCreate) -> ReconciliationRead:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    async with httpx.AsyncClient(base_url=settings.finance_url, timeout=settings.finance_timeout_seconds) as client:
        statement = await reconcile.fetch_statement(client, body.date)

    async def emit(payload: Any, *, key: str, correlation_id: str) -> None:
        await runtime.outbox.add(session, payload, key=key, correlation_id=correlation_id)

    run = await reconcile.reconcile(session, statement, now=datetime.now(UTC), emit=emit)
    return ReconciliationRead.of(run, await ReconciliationRepository(session).differences(run.run_id))
