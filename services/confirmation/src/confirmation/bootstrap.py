"""Composition root: the one place where confirmation is wired together."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from confirmation import service
from confirmation.config import Settings
from confirmation.handlers import BATCH_HANDLERS, CONSUMED_TOPICS, HANDLERS
from confirmation.models import Base
from confirmation.notify import DeliveryPolicy, notify_worker
from confirmation.repository import ConfirmationRepository
from mianshen_shared import db
from mianshen_shared.events import Envelope, Payload
from mianshen_shared.runtime import Runtime, build_runtime
from mianshen_shared.sealing import Sealer

log = logging.getLogger(__name__)


def bootstrap(settings: Settings | None = None) -> Runtime:
    settings = settings or Settings()
    # Fails at start, not at the first acceptance, when the key ring is unusable.
    Sealer.from_config(settings.account_keys, environment=settings.environment)
    extra_tasks = []
    if settings.expiry_sweep_seconds:
        extra_tasks.append(expiry_sweep(settings.expiry_sweep_seconds, settings.reminder_days))
    if settings.notify_poll_seconds:
        extra_tasks.append(
            notify_worker(
                delivery_policy(settings),
                poll_seconds=settings.notify_poll_seconds,
                timeout_seconds=settings.notify_timeout_seconds,
                batch_size=settings.notify_batch_size,
            )
        )
    return build_runtime(
        settings,
        Base.metadata,
        "confirmation.migrations",
        handlers=HANDLERS,
        batch_handlers=BATCH_HANDLERS,
        consumed_topics=CONSUMED_TOPICS,
        extra_tasks=extra_tasks,
    )


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        front_ends=dict(settings.frontend_urls),
        secret=settings.notify_secret,
        max_attempts=settings.notify_max_attempts,
        retry_base_seconds=settings.notify_retry_base_seconds,
        retry_max_seconds=settings.notify_retry_max_seconds,
    )


def expiry_sweep(interval: float, reminder_days: Sequence[int] = ()) -> Callable[[Runtime], Awaitable[None]]:
    """Periodically closes requests left unanswered past their deadline and reminds
    the enterprise of those coming due."""

    async def run(runtime: Runtime) -> None:
        while True:
            try:
                await sweep_once(runtime)
                await remind_once(runtime, reminder_days)
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


async def remind_once(runtime: Runtime, reminder_days: Sequence[int], *, now: datetime | None = None) -> int:
    async with db.transaction(runtime.sessions) as session:
        return await service.send_reminders(
            ConfirmationRepository(session), now=now or datetime.now(UTC), days_before=reminder_days
        )
