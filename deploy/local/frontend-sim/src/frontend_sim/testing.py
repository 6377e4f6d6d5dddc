"""Run the simulator as its own process for tests (its own and confirmation's)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from frontend_sim.app import DEVELOPMENT_SECRET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class FrontendSimProcess:
    url: str
    port: int
    db_path: Path
    process: subprocess.Popen[bytes]

    def front_ends(self) -> dict[str, str]:
        """confirmation's `frontend_urls` pointing at this simulator."""
        return {name: f"{self.url}/{name}" for name in ("qinqing", "zhenghaoban")}

    async def fail_next(self, count: int, *, status: int = 503) -> None:
        async with httpx.AsyncClient(base_url=self.url) as client:
            (await client.post("/_sim/faults", json={"count": count, "status": status})).raise_for_status()

    async def clear_faults(self) -> None:
        async with httpx.AsyncClient(base_url=self.url) as client:
            (await client.delete("/_sim/faults")).raise_for_status()

    async def notifications(self, uscc: str | None = None) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.get("/_sim/notifications", params={"uscc": uscc} if uscc else None)
            response.raise_for_status()
            return list(response.json())


def start(db_path: Path, *, port: int | None = None, secret: str = DEVELOPMENT_SECRET) -> FrontendSimProcess:
    port = port or free_port()
    log_file = (db_path.parent / f"frontend_sim_{port}.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "frontend_sim",
            "--port",
            str(port),
            "--db",
            str(db_path),
            "--secret",
            secret,
            "--log-level",
            "warning",
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    log_file.close()
    sim = FrontendSimProcess(url=f"http://127.0.0.1:{port}", port=port, db_path=db_path, process=process)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"frontend-sim exited with {process.returncode}; see {log_file.name}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{sim.url}/healthz", timeout=0.5).status_code == 200:
                return sim
        time.sleep(0.1)
    stop(sim)
    raise RuntimeError("frontend-sim did not become ready within 20s")


def stop(sim: FrontendSimProcess) -> None:
    sim.process.terminate()
    try:
        sim.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        sim.process.kill()
        sim.process.wait(timeout=5)


@contextlib.contextmanager
def running(db_path: Path, **kwargs: Any) -> Iterator[FrontendSimProcess]:
    sim = start(db_path, **kwargs)
    try:
        yield sim
    finally:
        stop(sim)
