"""confirmation — 意愿确认: the enterprise confirms each benefit and follows it until paid."""

from __future__ import annotations

from fastapi import FastAPI

from confirmation.bootstrap import bootstrap
from confirmation.config import Settings
from confirmation.router import notifications_router, performance_router, router
from mianshen_shared.web import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        bootstrap(settings),
        title="confirmation 意愿确认",
        description="向企业推送兑现确认请求，受理确认或放弃，并展示每项兑现从比对到拨付的全过程。",
        routers=[router, performance_router, notifications_router],
    )
