"""The announcer: sends `policy.published` for published versions whose day has come.

Every `announce_interval_seconds` it announces each due version in a transaction of
its own that holds the version's `announced_at` and its outbox row, so a crash
between two versions loses nothing and repeats nothing. Replicas share the work
through row locks (see `PolicyRepository.next_due_announcement`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mianshen_shared.db import transaction
from mianshen_shared.events.catalog import Payload
from mianshen_shared.messaging import Outbox
from mianshen_shared.messaging.consumer import is_transient
from mianshen_shared.runtime import Runtime
from policy_catalog import service
from policy_catalog.config import Settings
from policy_catalog.repository import PolicyRepository

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Announcer:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        interval_seconds: float = 60.0,
        notify: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._interval = interval_seconds
        self._notify = notify
        self._clock = clock

    async def run(self) -> None:
        while True:
            now = self._clock()
            try:
                await self.announce_due(today=service.shanghai_date(now), now=now)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_transient(exc):
                    log.warning("announcing interrupted; retrying in %.0fs: %s", self._interval, exc)
                else:
                    # Whatever was announced stays announced; the rest waits for the next round.
                    log.exception("announcing failed; retrying in %.0fs", self._interval)
            await asyncio.sleep(self._interval)

    async def announce_due(self, *, today: date, now: datetime) -> list[tuple[str, int]]:
        """Announce every version due on `today`, one transaction each; returns them in
        the order announced."""
        announced: list[tuple[str, int]] = []
        while (found := await self._announce_one(today=today, now=now)) is not None:
            announced.append(found)
            log.info("policy version announced", extra={"policy_id": found[0], "version": found[1]})
            self._notify()
        return announced

    async def _announce_one(self, *, today: date, now: datetime) -> tuple[str, int] | None:
        # The request that published the version is long gone; each announcement starts its own trail.
        correlation_id = f"policy-announcer-{uuid.uuid4().hex}"
        async with transaction(self._sessions) as session:

            async def emit(payload: Payload, *, key: str) -> Any:
                return await self._outbox.add(session, payload, key=key, correlation_id=correlation_id)

            policy = await service.announce_next_due(PolicyRepository(session), emit=emit, today=today, now=now)
            return None if policy is None else (policy.policy_id, policy.version)


async def policy_announcer(runtime: Runtime) -> Any:
    """Background task registered in Runtime.extra_tasks."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    await Announcer(
        sessions=runtime.sessions,
        outbox=runtime.outbox,
        interval_seconds=settings.announce_interval_seconds,
        notify=runtime.notify_relay,
    ).run()
