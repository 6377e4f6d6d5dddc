"""Run the simulator as its own process for tests (its own and confirmation's)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from frontend_sim.app import DEVELOPMENT_SECRET
from mianshen_shared import testing


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
    port = port or testing.free_port()
    args = ["--db", str(db_path), "--secret", secret, "--log-level", "warning"]
    process = testing.start_child("frontend_sim", args, port=port, log_dir=db_path.parent)
    return FrontendSimProcess(url=f"http://127.0.0.1:{port}", port=port, db_path=db_path, process=process)


def stop(sim: FrontendSimProcess) -> None:
    testing.stop_child(sim.process)


@contextlib.contextmanager
def running(db_path: Path, **kwargs: Any) -> Iterator[FrontendSimProcess]:
    sim = start(db_path, **kwargs)
    try:
        yield sim
    finally:
        stop(sim)
