"""Run the simulator as its own process for tests (its own and the payment service's)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mianshen_shared import testing


@dataclass
class SimulatorProcess:
    url: str
    port: int
    db_path: Path
    process: subprocess.Popen[bytes]

    async def arm(self, mode: str, **fields: Any) -> None:
        async with httpx.AsyncClient(base_url=self.url) as client:
            (await client.post("/_sim/faults", json={"mode": mode, **fields})).raise_for_status()

    async def clear_faults(self) -> None:
        async with httpx.AsyncClient(base_url=self.url) as client:
            (await client.delete("/_sim/faults")).raise_for_status()

    async def instructions(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.get("/_sim/instructions")
            response.raise_for_status()
            return list(response.json())

    async def return_instruction(self, idempotency_key: str, reason: str = "收款账户已销户，资金退回") -> None:
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.post(f"/_sim/instructions/{idempotency_key}/return", json={"reason": reason})
            response.raise_for_status()

    async def set_budgets(self, year: int, allocations: list[dict[str, Any]]) -> None:
        async with httpx.AsyncClient(base_url=self.url) as client:
            (await client.put(f"/_sim/budgets/{year}", json={"allocations": allocations})).raise_for_status()

    async def submissions(self) -> dict[str, int]:
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.get("/_sim/submissions")
            response.raise_for_status()
            return dict(response.json())


def start(db_path: Path, *, port: int | None = None, timeout_delay: float = 10.0) -> SimulatorProcess:
    port = port or testing.free_port()
    args = ["--db", str(db_path), "--timeout-delay", str(timeout_delay), "--log-level", "warning"]
    process = testing.start_child("finance_sim", args, port=port, log_dir=db_path.parent)
    return SimulatorProcess(url=f"http://127.0.0.1:{port}", port=port, db_path=db_path, process=process)


def stop(sim: SimulatorProcess) -> None:
    testing.stop_child(sim.process)


@contextlib.contextmanager
def running(db_path: Path, **kwargs: Any) -> Iterator[SimulatorProcess]:
    sim = start(db_path, **kwargs)
    try:
        yield sim
    finally:
        stop(sim)
