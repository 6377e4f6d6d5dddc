"""Misbehaviour on demand: the next N submissions fail in a chosen way."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from finance_sim.schemas import FaultCreate


@dataclass
class Fault:
    mode: str
    remaining: int
    code: str
    message: str
    delay_seconds: float


class Faults:
    """A queue of armed faults; each submission consumes one charge of the first."""

    def __init__(self, default_delay_seconds: float) -> None:
        self._queue: deque[Fault] = deque()
        self._default_delay = default_delay_seconds

    def arm(self, spec: FaultCreate) -> Fault:
        fault = Fault(
            mode=spec.mode,
            remaining=spec.count,
            code=spec.code,
            message=spec.message,
            delay_seconds=spec.delay_seconds or self._default_delay,
        )
        self._queue.append(fault)
        return fault

    def clear(self) -> None:
        self._queue.clear()

    def take(self) -> Fault | None:
        if not self._queue:
            return None
        fault = self._queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            self._queue.popleft()
        return fault

    def pending(self) -> list[Fault]:
        return list(self._queue)
