"""The re-evaluation worker: runs queued jobs chunk by chunk in the background.

Each chunk is one transaction holding the facts and history read, the entitlements
written, their `entitlement.determined` events (outbox) and the job's progress, so a
worker that dies resumes after the last committed chunk, and a chunk run again
announces nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from eligibility import service
from eligibility.config import Settings
from eligibility.models import ReevaluationJob
from eligibility.repository import EligibilityRepository
from mianshen_shared.db import transaction
from mianshen_shared.messaging import Outbox, Rejected
from mianshen_shared.messaging.consumer import is_transient
from mianshen_shared.runtime import Runtime

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ReevaluationWorker:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        batch_size: int = service.REEVALUATION_BATCH,
        poll_seconds: float = 1.0,
        notify: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = _utcnow,
        before_commit: Callable[[ReevaluationJob], None] | None = None,
    ) -> None:
        """`before_commit`: called inside each chunk's transaction, just before it
        commits (tests use it to kill the worker mid-chunk)."""
        self._sessions = sessions
        self._outbox = outbox
        self._batch = batch_size
        self._poll = poll_seconds
        self._notify = notify
        self._clock = clock
        self._before_commit = before_commit

    async def run(self) -> None:
        backoff = self._poll
        while True:
            job_id: uuid.UUID | None = None
            try:
                job_id = await self._next_job_id()
                worked = job_id is not None and await self.run_chunk(job_id)
                backoff = self._poll
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_transient(exc):
                    log.warning("re-evaluation interrupted; retrying in %.1fs: %s", backoff, exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                log.exception("re-evaluation job %s failed", job_id)
                if job_id is not None:
                    await self._fail(job_id, exc)
                await asyncio.sleep(backoff)
                continue
            if not worked:
                await asyncio.sleep(self._poll)

    async def run_until_idle(self) -> None:
        """Every open job to its end (tests and one-off runs); errors propagate."""
        while (job_id := await self._next_job_id()) is not None:
            await self.run_chunk(job_id)

    async def _next_job_id(self) -> uuid.UUID | None:
        async with transaction(self._sessions) as session:
            return await EligibilityRepository(session).next_job_id()

    async def run_chunk(self, job_id: uuid.UUID) -> bool:
        """One chunk of the job in one transaction; False if the job is no longer open."""
        async with transaction(self._sessions) as session:
            repo = EligibilityRepository(session)
            # Taken before the job row, as the consumer's handlers do: one lock order.
            await repo.lock_evaluations(exclusive=True)
            chunk = await service.reevaluate_next_chunk(repo, job_id=job_id, batch=self._batch, now=self._clock())
            if chunk is None:
                return False
            rows = [
                self._outbox.row(d, key=d.uscc, correlation_id=chunk.job.correlation_id)[1]
                for d in chunk.determinations
            ]
            await self._outbox.insert(session, rows)
            if self._before_commit is not None:
                self._before_commit(chunk.job)
            progress = (chunk.job.status, chunk.job.done, chunk.job.total, chunk.job.determinations)
        log.info(
            "re-evaluation chunk done",
            extra={"job_id": str(job_id), "status": progress[0], "done": progress[1], "total": progress[2]},
        )
        if rows:
            self._notify()
        return True

    async def _fail(self, job_id: uuid.UUID, exc: Exception) -> None:
        error = exc.message if isinstance(exc, Rejected) else f"处理失败：{type(exc).__name__}: {exc}"
        try:
            async with transaction(self._sessions) as session:
                await service.fail_job(EligibilityRepository(session), job_id=job_id, error=error, now=self._clock())
        except Exception as again:
            if not is_transient(again):
                raise
            # The job stays open and is tried again once the database is back.
            log.warning("could not mark job %s failed: %s", job_id, again)
            await asyncio.sleep(self._poll)


async def reevaluation_worker(runtime: Runtime) -> Any:
    """Background task registered in Runtime.extra_tasks."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    await ReevaluationWorker(
        sessions=runtime.sessions,
        outbox=runtime.outbox,
        batch_size=settings.reevaluation_batch,
        poll_seconds=settings.reevaluation_poll_seconds,
        notify=runtime.notify_relay,
    ).run()
