"""A local supervisor for the whole platform: every service and the finance
simulator as separate processes. Used by `scripts/run` and the end-to-end and
chaos tests, so what a developer runs is what the tests run."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from mianshen_shared.config import REPO_ROOT

SERVICES = ("policy-catalog", "eligibility", "confirmation", "credit-check", "payment")
DEFAULT_PORTS = {
    "gateway": 8000,
    "policy-catalog": 8001,
    "eligibility": 8002,
    "confirmation": 8003,
    "credit-check": 8004,
    "payment": 8005,
    "finance-sim": 8090,
    "frontend-sim": 8091,
}


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    ready_path: str
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class LocalStack:
    state_dir: Path
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    database_urls: dict[str, str] = field(default_factory=dict)  # service -> URL; SQLite files otherwise
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    extra_env: dict[str, str] = field(default_factory=dict)
    # Off unless asked for: chaos tests retry hard and would trip the limits.
    rate_limit_redis_url: str = ""
    procs: dict[str, Proc] = field(default_factory=dict)
    # One per stack, shared by the gateway and the services, so local stacks check X-Gateway-Token.
    internal_secret: str = field(default_factory=lambda: secrets.token_hex(32))

    def __post_init__(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "logs").mkdir(exist_ok=True)
        for name in ("finance-sim", "frontend-sim", *SERVICES, "gateway"):
            self.procs[name] = self._describe(name)

    def url(self, name: str) -> str:
        return self.procs[name].url

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MIANSHEN_")}
        env.update(
            MIANSHEN_KAFKA_BOOTSTRAP=self.kafka_bootstrap,
            MIANSHEN_TOPIC_PREFIX=self.topic_prefix,
            MIANSHEN_STATE_DIR=str(self.state_dir),
            MIANSHEN_INTERNAL_SECRET=self.internal_secret,
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def _describe(self, name: str) -> Proc:
        env = self._base_env()
        port = self.ports[name]
        log = self.state_dir / "logs" / f"{name}.log"
        if name == "finance-sim":
            argv = [
                sys.executable,
                "-m",
                "finance_sim",
                "--port",
                str(port),
                "--db",
                str(self.state_dir / "finance-sim.sqlite"),
            ]
            return Proc(name, argv, env, port, log, "/openapi.json")
        if name == "frontend-sim":
            db_file = str(self.state_dir / "frontend-sim.sqlite")
            argv = [sys.executable, "-m", "frontend_sim", "--port", str(port), "--db", db_file]
            return Proc(name, argv, env, port, log, "/healthz")
        if name in self.database_urls:
            env["MIANSHEN_DATABASE_URL"] = self.database_urls[name]
        if name == "payment":
            env["MIANSHEN_FINANCE_URL"] = f"http://127.0.0.1:{self.ports['finance-sim']}"
        if name == "confirmation":
            sim = f"http://127.0.0.1:{self.ports['frontend-sim']}"
            env["MIANSHEN_FRONTEND_URLS"] = f'{{"qinqing": "{sim}/qinqing", "zhenghaoban": "{sim}/zhenghaoban"}}'
        if name == "gateway":
            for svc in SERVICES:
                env[f"MIANSHEN_{svc.upper().replace('-', '_')}_URL"] = f"http://127.0.0.1:{self.ports[svc]}"
            # Plaintext development secrets: never offered to a production gateway.
            if env.get("MIANSHEN_ENVIRONMENT", "development") != "production":
                env["MIANSHEN_BOOTSTRAP_CLIENTS_FILE"] = str(REPO_ROOT / "config" / "clients" / "development.yaml")
            if self.rate_limit_redis_url:
                env["MIANSHEN_RATE_LIMIT_REDIS_URL"] = self.rate_limit_redis_url
        argv = [sys.executable, "-m", "mianshen_shared.serve", name, "--port", str(port)]
        return Proc(name, argv, env, port, log, "/readyz")

    def start(self, names: list[str] | None = None, timeout: float = 90.0) -> None:
        wanted = names or list(self.procs)
        for name in wanted:
            self._spawn(self.procs[name])
        for name in wanted:
            self.wait_ready(name, timeout)

    def _spawn(self, proc: Proc) -> None:
        log = proc.log_path.open("ab")
        proc.popen = subprocess.Popen(
            proc.argv, env=proc.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True
        )

    def wait_ready(self, name: str, timeout: float = 90.0) -> None:
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.popen is not None and proc.popen.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.popen.returncode}; see {proc.log_path}:\n{self.tail(name)}"
                )
            try:
                if httpx.get(proc.url + proc.ready_path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{name} not ready after {timeout}s; see {proc.log_path}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.procs[name].log_path
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        if proc.popen is not None and proc.popen.poll() is None:
            os.killpg(proc.popen.pid, sig)
            proc.popen.wait(timeout=30)

    def restart(self, name: str) -> None:
        self.kill(name)
        self._spawn(self.procs[name])
        self.wait_ready(name)

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.popen is not None and proc.popen.poll() is None:
                os.killpg(proc.popen.pid, signal.SIGTERM)
        for proc in self.procs.values():
            if proc.popen is not None:
                try:
                    proc.popen.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                    proc.popen.wait()

    def seed_policies(self, directory: Path | None = None) -> None:
        """Load and publish the city's policy documents through policy-catalog."""
        env = dict(self.procs["policy-catalog"].env)
        argv = [sys.executable, "-m", "policy_catalog.seed"]
        if directory is not None:
            argv.append(str(directory))
        subprocess.run(argv, env=env, cwd=REPO_ROOT, check=True)
