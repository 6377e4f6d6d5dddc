"""The payment worker: claims due payments, calls the finance system outside any
transaction, and records each answer (and its event) in a transaction of its own.

A worker that dies between claim and record leaves a `submitted` payment whose
lease runs out; the next claim resolves it by query, so a crash can delay a
payment but never pay it twice or lose it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mianshen_shared.db import transaction
from mianshen_shared.events.catalog import Payload
from mianshen_shared.messaging import Outbox
from mianshen_shared.runtime import Runtime
from mianshen_shared.sealing import Sealer
from payment import service
from payment.config import Settings
from payment.finance import FinanceClient
from payment.money import SessionMoney
from payment.repository import PaymentRepository

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PaymentWorker:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        finance: service.FinanceGateway,
        policy: service.RetryPolicy,
        payer_budget_code: str,
        sealer: Sealer | None = None,
        batch_size: int = 10,
        poll_seconds: float = 0.5,
        notify: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._finance = finance
        self._policy = policy
        self._payer_budget_code = payer_budget_code
        self._sealer = sealer or Sealer.from_config("")
        self._batch_size = batch_size
        self._poll = poll_seconds
        self._notify = notify
        self._clock = clock

    async def run(self) -> None:
        backoff = self._poll
        while True:
            try:
                done = await self.run_once()
                backoff = self._poll
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("payment worker failed to claim; retrying in %.1fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if done < self._batch_size:
                await asyncio.sleep(self._poll)

    async def run_once(self) -> int:
        emitted = False
        async with transaction(self._sessions) as session:

            async def emit(payload: Payload, *, key: str, correlation_id: str) -> None:
                nonlocal emitted
                await self._outbox.add(session, payload, key=key, correlation_id=correlation_id)
                emitted = True

            steps = await service.claim(
                PaymentRepository(session),
                now=self._clock(),
                limit=self._batch_size,
                policy=self._policy,
                payer_budget_code=self._payer_budget_code,
                money=SessionMoney(session),
                sealer=self._sealer,
                emit=emit,
            )
        if emitted:
            self._notify()
        await asyncio.gather(*(self._complete(step) for step in steps))
        return len(steps)

    async def _complete(self, step: service.Step) -> None:
        try:
            result = await service.perform(self._finance, step)
            emitted = False
            async with transaction(self._sessions) as session:

                async def emit(payload: Payload, *, key: str, correlation_id: str) -> None:
                    nonlocal emitted
                    await self._outbox.add(session, payload, key=key, correlation_id=correlation_id)
                    emitted = True

                await service.record_outcome(
                    PaymentRepository(session),
                    step,
                    result,
                    policy=self._policy,
                    now=self._clock(),
                    emit=emit,
                    money=SessionMoney(session),
                )
            log.info(
                "payment step done",
                extra={"payment_id": str(step.payment_id), "action": step.action, "outcome": result.outcome},
            )
            if emitted:
                self._notify()
        except asyncio.CancelledError:
            raise
        except Exception:
            # The claim's lease runs out and the payment is resolved by query.
            log.exception("payment %s: step %s failed", step.payment_id, step.action)


def policy_from(settings: Settings) -> service.RetryPolicy:
    return service.RetryPolicy(
        max_attempts=settings.payment_max_attempts,
        base_seconds=settings.payment_retry_base_seconds,
        max_seconds=settings.payment_retry_max_seconds,
        lease_seconds=settings.finance_timeout_seconds + 30.0,
        credit_recheck_seconds=settings.credit_recheck_seconds,
    )


async def payment_worker(runtime: Runtime) -> Any:
    """Background task registered in Runtime.extra_tasks."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    finance = FinanceClient(settings.finance_url, timeout_seconds=settings.finance_timeout_seconds)
    worker = PaymentWorker(
        sessions=runtime.sessions,
        outbox=runtime.outbox,
        finance=finance,
        policy=policy_from(settings),
        payer_budget_code=settings.payer_budget_code,
        sealer=Sealer.from_config(settings.account_keys, environment=settings.environment),
        batch_size=settings.payment_batch_size,
        poll_seconds=settings.payment_poll_seconds,
        notify=runtime.notify_relay,
    )
    try:
        await worker.run()
    finally:
        await finance.aclose()
