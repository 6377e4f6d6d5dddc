"""Composition root: the one place where confirmation is wired together."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from confirmation import service
from confirmation.config import Settings
from confirmation.handlers import BATCH_HANDLERS, CONSUMED_TOPICS, HANDLERS
from confirmation.models import Base
from confirmation.repository import ConfirmationRepository
from mianshen_shared import db
from mianshen_shared.events import Envelope, Payload
from mianshen_shared.runtime import Runtime, build_runtime

log = logging.getLogger(__name__)


def bootstrap(settings: Settings | None = None) -> Runtime:
    settings = settings or Settings()
    extra_tasks = [expiry_sweep(settings.expiry_sweep_seconds)] if settings.expiry_sweep_seconds else []
    return build_runtime(
        settings,
        Base.metadata,
        "confirmation.migrations",
        handlers=HANDLERS,
        batch_handlers=BATCH_HANDLERS,
        consumed_topics=CONSUMED_TOPICS,
        extra_tasks=extra_tasks,
    )


def expiry_sweep(interval: float) -> Callable[[Runtime], Awaitable[None]]:
    """Periodically closes requests left unanswered past their deadline."""

    async def run(runtime: Runtime) -> None:
        while True:
            try:
                await sweep_once(runtime)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("expiry sweep failed; will try again")
            await asyncio.sleep(interval)

    run.__name__ = "expiry-sweep"
    return run


async def sweep_once(runtime: Runtime) -> int:
    sweep_id = f"expiry-sweep-{uuid.uuid4().hex}"
    async with db.transaction(runtime.sessions) as session:

        async def emit(payload: Payload, *, key: str, correlation_id: str | None = None) -> Envelope:
            sweep = correlation_id or sweep_id
            return await runtime.outbox.add(session, payload, key=key, correlation_id=sweep)

        expired = await service.expire_overdue(ConfirmationRepository(session), now=datetime.now(UTC), emit=emit)
    if expired:
        runtime.notify_relay()
    return expired
