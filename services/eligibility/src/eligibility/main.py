"""eligibility — 数据比对: matches department data against published policies."""

from __future__ import annotations

from fastapi import FastAPI

from eligibility.bootstrap import bootstrap, export_feed_gauges
from eligibility.config import Settings
from eligibility.router import feeds, reevaluations, router
from mianshen_shared.web import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        bootstrap(settings),
        title="eligibility 数据比对",
        description="部门共享数据与已发布政策自动比对，认定企业可享受的政策及金额，并说明依据。",
        routers=[router, reevaluations, feeds],
        on_startup=export_feed_gauges,
    )
