"""payment — 政策兑现: pays cleared entitlements through the 财政预算管理一体化系统."""

from __future__ import annotations

from fastapi import FastAPI

from mianshen_shared import city, observability
from mianshen_shared.runtime import Runtime
from mianshen_shared.web import create_service_app
from payment.bootstrap import bootstrap
from payment.config import Settings
from payment.router import router
from payment.routes_cases import router as cases_router
from payment.routes_money import router as money_router
from payment.routes_notice import router as notice_router


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        bootstrap(settings),
        title="payment 政策兑现",
        description="通过信用核查的惠企政策资金，经财政预算管理一体化系统支付到企业账户，每笔只付一次。",
        routers=[router, cases_router, notice_router, money_router],
        on_startup=export_budgets,
    )


async def export_budgets(_runtime: Runtime) -> None:
    """Paid against budget is the money dashboard's question; the budget is the city's."""
    observability.export_budgets(city.current().budgets)
