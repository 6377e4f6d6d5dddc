"""Every request dependency of every process is a coroutine. FastAPI runs a plain
`def` dependency in a worker thread, so each one costs every request a thread hop
and a wake-up of the event loop; measured on the gateway (bench/gateway_overhead.py)
these were a visible share of its CPU for what are attribute reads and checks."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

pytestmark = pytest.mark.contract
PACKAGES = ["policy_catalog", "eligibility", "confirmation", "credit_check", "payment", "gateway"]


def blocking_calls(dependant: Dependant) -> set[str]:
    found: set[str] = set()
    call: Callable[..., Any] | None = dependant.call
    if call is not None and not (
        inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call) or inspect.isclass(call)
    ):
        found.add(f"{call.__module__}.{getattr(call, '__qualname__', call)}")
    for sub in dependant.dependencies:
        found |= blocking_calls(sub)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_no_route_depends_on_a_plain_function(package: str, tmp_path: Path) -> None:
    settings_class: Any = importlib.import_module(f"{package}.config").Settings
    settings = settings_class(database_url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", messaging_enabled=False)
    app = importlib.import_module(f"{package}.main").create_app(settings)
    routes = [r for r in iter_route_contexts(app.routes) if isinstance(r.original_route, APIRoute)]
    assert len(routes) > 3
    blocking = set().union(*(blocking_calls(r.dependant) for r in routes))
    assert blocking == set(), f"make these `async def`: {sorted(blocking)}"
