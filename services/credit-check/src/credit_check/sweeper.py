"""The release sweep: holds whose black records have all expired are released by a
periodic task, since an expiry is a date passing, not an event anyone sends.

Each pass is one transaction holding the new assessments, the acceptances moved to
cleared and the `credit.assessed` events (outbox). Replicas sweep side by side: rows
one has locked are skipped by the others (FOR UPDATE SKIP LOCKED on PostgreSQL), and
once it commits they are no longer held, so each hold is released exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from credit_check import service
from credit_check.config import Settings
from credit_check.repository import CreditRepository
from mianshen_shared.db import transaction
from mianshen_shared.messaging import Outbox
from mianshen_shared.runtime import Runtime

log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ReleaseSweeper:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        batch_size: int = 200,
        interval_seconds: float = 60.0,
        notify: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._batch = batch_size
        self._interval = interval_seconds
        self._notify = notify
        self._clock = clock

    async def sweep_once(self) -> int:
        """One pass of up to `batch_size` releases; how many holds it released."""
        now = self._clock()
        async with transaction(self._sessions) as session:
            released = await service.release_expired(
                CreditRepository(session), today=now.astimezone(SHANGHAI).date(), now=now, limit=self._batch
            )
            for event in released:
                # No event caused this: the release starts its own correlation.
                await self._outbox.add(
                    session, event, key=event.uscc, correlation_id=f"credit-release-{event.assessment_id}"
                )
        if released:
            self._notify()
            log.info("released expired credit holds", extra={"released": len(released)})
        return len(released)

    async def sweep_until_done(self) -> int:
        total = 0
        while (released := await self.sweep_once()) > 0:
            total += released
        return total

    async def run(self) -> None:
        while True:
            try:
                await self.sweep_until_done()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("credit release sweep failed; trying again at the next interval")
            await asyncio.sleep(self._interval)


async def release_sweeper(runtime: Runtime) -> Any:
    """Background task registered in Runtime.extra_tasks."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    await ReleaseSweeper(
        sessions=runtime.sessions,
        outbox=runtime.outbox,
        batch_size=settings.release_sweep_batch,
        interval_seconds=settings.release_sweep_seconds,
        notify=runtime.notify_relay,
    ).run()
