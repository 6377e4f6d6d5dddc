"""The gateway's operator routes for the money core: budgets (预算额度), the ledger's
balance and reconciliations (对账) with the finance system. Bodies are checked at
the door; the payment service decides and records the operator named in X-Actor."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.access import Actor, Audience, access
from gateway.bootstrap import UpstreamsDep
from gateway.router import JsonBody, problem_responses
from mianshen_shared.api import Items, Offset

PolicyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$", description="政策编号")]
Year = Annotated[int, Path(ge=2000, le=2100, description="预算年度（北京时间自然年）")]
_READ_ERRORS = problem_responses(404, 422, 502, 504)
_CHANGE_ERRORS = problem_responses(400, 409, 413, 415, 422, 502, 504)


# --- request bodies ------------------------------------------------------------------------


class BudgetSet(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    total_fen: int = Field(ge=0, le=10**15, strict=True, description="年度预算额度（分）")
    reason: str = Field(min_length=1, max_length=500, description="调整原因")


class ReconciliationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: date  # 对账日期（北京时间）


# --- what the payment service answers (mirrored, extra fields pass through) --------------------


class _Mirrored(BaseModel):
    model_config = ConfigDict(extra="allow")


class BudgetRead(_Mirrored):
    policy_id: str
    fiscal_year: int
    budget_code: str | None
    total_fen: int
    reserved_fen: int
    spent_fen: int
    remaining_fen: int
    waiting: int = Field(description="因预算额度不足等待的支付笔数")
    source: str = Field(description="city 城市配置初值 / operator 经办调整 / finance 财政系统下达")


class AccountBalanceRead(_Mirrored):
    account: str
    debit_fen: int
    credit_fen: int


class LedgerBalanceRead(_Mirrored):
    debit_fen: int
    credit_fen: int
    balanced: bool
    unbalanced_journals: list[uuid.UUID]
    accounts: list[AccountBalanceRead]


class DifferenceRead(_Mirrored):
    kind: str = Field(description="missing_in_finance / missing_in_ledger / amount_mismatch / returned")
    idempotency_key: str
    payment_id: uuid.UUID | None
    our_amount_fen: int | None
    finance_amount_fen: int | None
    detail: str


class ReconciliationRead(_Mirrored):
    run_id: uuid.UUID
    statement_date: date
    status: str
    statement_count: int
    statement_total_fen: int
    our_count: int
    our_total_fen: int
    difference_count: int
    started_at: datetime
    finished_at: datetime
    differences: list[DifferenceRead] = Field(default_factory=list)


operators_money = APIRouter(prefix="/v1/operator", tags=["operators"], dependencies=[access(Audience.operator)])


@operators_money.get(
    "/budgets",
    response_model=Items[BudgetRead],
    responses=_READ_ERRORS,
    summary="各政策年度预算执行：额度、预留、已付、剩余、等待笔数",
)
async def list_budgets(
    request: Request, upstreams: UpstreamsDep, year: Annotated[int | None, Query(ge=2000, le=2100)] = None
) -> Response:
    params = {"year": str(year)} if year is not None else None
    return await upstreams.forward("payment", "GET", "/budgets", request=request, params=params)


@operators_money.put(
    "/budgets/{policy_id}/{year}",
    response_model=BudgetRead,
    responses=_CHANGE_ERRORS,
    dependencies=[JsonBody],
    summary="设定政策年度预算额度（不得低于已预留与已支付之和；追加后等待的支付按先后自动继续）",
)
async def set_budget(
    request: Request, upstreams: UpstreamsDep, actor: Actor, policy_id: PolicyId, year: Year, body: BudgetSet
) -> Response:
    return await upstreams.forward(
        "payment", "PUT", f"/budgets/{policy_id}/{year}", request=request, json=body.model_dump(), actor=actor
    )


@operators_money.get(
    "/ledger/balance", response_model=LedgerBalanceRead, responses=_READ_ERRORS, summary="总账试算平衡：各科目借贷合计"
)
async def ledger_balance(request: Request, upstreams: UpstreamsDep) -> Response:
    return await upstreams.forward("payment", "GET", "/ledger/balance", request=request)


@operators_money.get(
    "/reconciliations", response_model=Items[ReconciliationRead], responses=_READ_ERRORS, summary="对账记录（最新在前）"
)
async def list_reconciliations(
    request: Request,
    upstreams: UpstreamsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> Response:
    params = {"limit": str(limit), "offset": str(offset)}
    return await upstreams.forward("payment", "GET", "/reconciliations", request=request, params=params)


@operators_money.get(
    "/reconciliations/{run_id}",
    response_model=ReconciliationRead,
    responses=_READ_ERRORS,
    summary="一次对账及其差异明细",
)
async def get_reconciliation(request: Request, upstreams: UpstreamsDep, run_id: uuid.UUID) -> Response:
    return await upstreams.forward("payment", "GET", f"/reconciliations/{run_id}", request=request)


@operators_money.post(
    "/reconciliations",
    response_model=ReconciliationRead,
    status_code=201,
    responses=_CHANGE_ERRORS,
    dependencies=[JsonBody],
    summary="与财政系统对账一日（退票的支付随即冲销并释放预算）",
)
async def run_reconciliation(
    request: Request, upstreams: UpstreamsDep, actor: Actor, body: ReconciliationCreate
) -> Response:
    return await upstreams.forward(
        "payment", "POST", "/reconciliations", request=request, json=body.model_dump(mode="json"), actor=actor
    )


ROUTERS = [operators_money]
