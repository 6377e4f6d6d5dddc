"""docker-compose.yml cannot run here; it must describe the same stack that
scripts/run starts: the same processes, ports, environment and databases."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mianshen_shared.config import REPO_ROOT
from mianshen_shared.stack import DEFAULT_PORTS, SERVICES, LocalStack

pytestmark = pytest.mark.unit
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text("utf-8"))["services"]
SETTINGS = {
    "gateway": "gateway.config",
    "policy-catalog": "policy_catalog.config",
    "eligibility": "eligibility.config",
    "confirmation": "confirmation.config",
    "credit-check": "credit_check.config",
    "payment": "payment.config",
}


# Locally the gateway keeps its database and development signing key under the state
# directory and scripts/run hands it Redis through extra_env; a read-only container
# must name them.
CONTAINER_ONLY = {
    "gateway": {
        "MIANSHEN_DATABASE_URL",
        "MIANSHEN_RATE_LIMIT_REDIS_URL",
        "MIANSHEN_BOOTSTRAP_CLIENTS_FILE",
        "MIANSHEN_STATE_DIR",
    }
}


def compose_env(name: str) -> dict[str, Any]:
    return COMPOSE[name].get("environment", {})


def test_compose_runs_every_platform_process() -> None:
    assert set(DEFAULT_PORTS) <= set(COMPOSE)
    assert set(COMPOSE) - set(DEFAULT_PORTS) == {"kafka", "postgres", "redis", "policy-seed"}


@pytest.mark.parametrize("name", sorted(DEFAULT_PORTS))
def test_each_process_listens_on_the_same_port_as_locally(name: str) -> None:
    port = DEFAULT_PORTS[name]
    assert COMPOSE[name]["ports"] == [f"{port}:{port}"]
    command = COMPOSE[name]["command"]
    assert command[command.index("--port") + 1] == str(port)


@pytest.mark.parametrize("name", [*SERVICES, "gateway"])
def test_each_service_gets_the_same_settings_as_locally(name: str, tmp_path: Path) -> None:
    local = LocalStack(state_dir=tmp_path, database_urls={svc: "postgresql+asyncpg://x/y" for svc in SERVICES})
    local_keys = {k for k in local.procs[name].env if k.startswith("MIANSHEN_")} - {"MIANSHEN_STATE_DIR"}
    assert set(compose_env(name)) == local_keys | CONTAINER_ONLY.get(name, set())


@pytest.mark.parametrize("name", [*SERVICES, "gateway"])
def test_every_compose_setting_is_one_the_service_reads(name: str) -> None:
    settings_cls = importlib.import_module(SETTINGS[name]).Settings
    fields = set(settings_cls.model_fields)
    for key in compose_env(name):
        assert key.removeprefix("MIANSHEN_").lower() in fields, f"{name} has no setting for {key}"


def test_compose_databases_are_the_ones_the_scripts_create() -> None:
    script = (REPO_ROOT / "deploy" / "local" / "postgres" / "postgres.sh").read_text("utf-8")
    scripted = set(re.search(r"databases=\(([^)]*)\)", script).group(1).split())  # type: ignore[union-attr]
    composed = set(compose_env("postgres")["POSTGRES_MULTIPLE_DATABASES"].split(","))
    # The gateway's database lives in the state directory locally (SQLite).
    assert scripted == composed - {"gateway"} == {svc.replace("-", "_") for svc in SERVICES}
    assert compose_env("gateway")["MIANSHEN_DATABASE_URL"].endswith("/gateway")
    for svc in SERVICES:
        assert compose_env(svc)["MIANSHEN_DATABASE_URL"].endswith("/" + svc.replace("-", "_"))
