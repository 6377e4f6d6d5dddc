"""policy-catalog — 政策库: stores structured policy documents and publishes them."""

from __future__ import annotations

from fastapi import FastAPI

from mianshen_shared.web import create_service_app
from policy_catalog.bootstrap import bootstrap
from policy_catalog.config import Settings
from policy_catalog.router import router


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        bootstrap(settings),
        title="policy-catalog 政策库",
        description="惠企政策的结构化文本：起草、发布、废止，并以事件通知数据比对。",
        routers=[router],
    )
