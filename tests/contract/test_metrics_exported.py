"""The contract with deploy/observability from the services' side: every process
exposes every contract metric on /metrics, and each says on /readyz which of its
dependencies is missing. Nothing heavy starts: the apps run without their lifespan."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from mianshen_shared import city, observability

pytestmark = pytest.mark.contract
SERVICES = ["policy_catalog", "eligibility", "confirmation", "credit_check", "payment"]
# Nothing listens on port 1: refused at once, as when the database is down.
UNREACHABLE_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:1/mianshen"


def create_app(package: str, database_url: str) -> FastAPI:
    settings_class: Any = importlib.import_module(f"{package}.config").Settings
    settings = settings_class(database_url=database_url, messaging_enabled=False, environment="test")
    return importlib.import_module(f"{package}.main").create_app(settings)  # type: ignore[no-any-return]


async def get(app: FastAPI, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        return await client.get(path)


def exported_series(exposition: str) -> set[str]:
    series = set()
    for family in text_string_to_metric_families(exposition):
        if family.type == "counter":
            series.add(f"{family.name}_total")
        elif family.type == "histogram":
            series |= {f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"}
        else:
            series.add(family.name)
    return series


@pytest.mark.parametrize("package", [*SERVICES, "gateway"])
async def test_every_process_exposes_every_contract_metric(package: str, tmp_path: Path) -> None:
    if package == "gateway":
        from gateway.main import create_app as create_gateway

        app = create_gateway()
    else:
        app = create_app(package, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    response = await get(app, "/metrics")
    assert response.status_code == 200
    assert observability.CONTRACT_SERIES - exported_series(response.text) == set()


def test_the_contract_lists_every_metric_declared_for_the_dashboards() -> None:
    declared = {
        name
        for name, value in vars(observability).items()
        if name.isupper() and type(value).__module__.startswith("prometheus_client")
    }
    assert len(declared) == len(observability.CONTRACT_METRICS)


async def test_payment_exports_the_city_budgets_at_startup(tmp_path: Path) -> None:
    from payment.main import export_budgets

    app = create_app("payment", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    await export_budgets(app.state.runtime)
    exposition = (await get(app, "/metrics")).text
    exported = {
        (s.labels["policy_id"], int(s.labels["fiscal_year"])): s.value
        for family in text_string_to_metric_families(exposition)
        if family.name == "mianshen_budget_fen"
        for s in family.samples
    }
    budgets = city.current().budgets
    assert budgets, "the city file declares budgets"
    expected = {(policy_id, year): fen for policy_id, years in budgets.items() for year, fen in years.items()}
    assert {key: exported.get(key) for key in expected} == expected


@pytest.mark.parametrize("package", SERVICES)
async def test_not_ready_and_saying_so_while_the_database_is_unreachable(package: str) -> None:
    response = await get(create_app(package, UNREACHABLE_DATABASE), "/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database"]
    assert body["checks"]["database"].startswith("down")


@pytest.mark.parametrize("package", SERVICES)
async def test_ready_when_the_database_answers(package: str, tmp_path: Path) -> None:
    response = await get(create_app(package, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"), "/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready", "checks": {"database": "ok"}})
