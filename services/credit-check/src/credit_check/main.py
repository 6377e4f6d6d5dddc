"""credit-check — 守信激励、失信惩戒: holds payments to enterprises on a 失信 list."""

from __future__ import annotations

from fastapi import FastAPI

from credit_check.bootstrap import bootstrap
from credit_check.config import Settings
from credit_check.router import router
from mianshen_shared.web import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        bootstrap(settings),
        title="credit-check 信用核查",
        description="失信主体名单核查：列入失信名单的企业暂缓兑现。",
        routers=[router],
    )
