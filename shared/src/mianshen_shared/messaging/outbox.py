"""Transactional outbox: write events with state, publish them after commit.

`Outbox.add` runs inside the caller's unit of work. `OutboxRelay` reads the
oldest rows, sends them with an idempotent producer, waits for the broker's
acknowledgement and only then deletes them — so an event is published at least
once, in commit order per enterprise, and consumers drop the duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mianshen_shared import observability, tracing
from mianshen_shared.events import Envelope, Payload, make_envelope
from mianshen_shared.events.catalog import spec_for

log = logging.getLogger(__name__)


class Outbox:
    """Adds events to the service's outbox table within the current transaction."""

    def __init__(self, table: Table, *, source: str, topic_for: Any) -> None:
        self._table = table
        self._source = source
        self._topic_for = topic_for  # logical name -> physical topic

    def row(
        self,
        payload: Payload,
        *,
        key: str,
        correlation_id: str,
        subject: str | None = None,
        traceparent: str | None = None,
    ) -> tuple[Envelope, dict[str, Any]]:
        """The envelope and the outbox row for one event, to be inserted with others.
        `traceparent`: the event's own; by default the current span's (a new trace
        when there is none)."""
        envelope = make_envelope(
            payload, source=self._source, subject=subject or key, correlation_id=correlation_id
        ).model_copy(update={"traceparent": traceparent or tracing.for_event()})
        observability.on_commit(lambda: observability.count_emitted(envelope.type, envelope.data))
        return envelope, {
            "event_id": str(envelope.id),
            "topic": self._topic_for(spec_for(payload).topic),
            "message_key": key,
            "payload": envelope.to_bytes(),
            "headers": {"correlationid": correlation_id, "type": envelope.type, tracing.HEADER: envelope.traceparent},
            "created_at": datetime.now(UTC),
        }

    async def insert(self, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
        if rows:
            await session.execute(sa.insert(self._table), rows)

    async def add(
        self,
        session: AsyncSession,
        payload: Payload,
        *,
        key: str,
        correlation_id: str,
        subject: str | None = None,
        traceparent: str | None = None,
    ) -> Envelope:
        envelope, row = self.row(
            payload, key=key, correlation_id=correlation_id, subject=subject, traceparent=traceparent
        )
        await self.insert(session, [row])
        return envelope


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        table: Table,
        producer: AIOKafkaProducer,
        *,
        service: str,
        batch_size: int = 500,
        idle_interval: float = 0.05,
        gauge_interval: float = 2.0,
    ) -> None:
        self._engine = engine
        self._table = table
        self._producer = producer
        self._service = service
        self._batch_size = batch_size
        self._idle = idle_interval
        self._gauge_interval = gauge_interval
        self._wakeup = asyncio.Event()
        self._stopping = False

    def notify(self) -> None:
        """Called after a commit that added outbox rows, to publish without waiting."""
        self._wakeup.set()

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()

    async def run(self) -> None:
        # Its own task: publishing may hang on a broker outage, which is just when
        # the backlog must keep being reported.
        watcher = asyncio.create_task(self._watch_backlog(), name="outbox-backlog")
        try:
            await self._publish_until_stopped()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _publish_until_stopped(self) -> None:
        backoff = 0.1
        while not self._stopping:
            try:
                sent = await self.publish_once()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying in %.1fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if sent < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self._idle)
                self._wakeup.clear()

    async def publish_once(self) -> int:
        t = self._table
        async with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # One relay at a time per service database keeps per-key order
                # even when the service runs several replicas.
                locked = await conn.scalar(sa.text("SELECT pg_try_advisory_xact_lock(hashtext('outbox-relay'))"))
                if not locked:
                    return 0
            rows = (
                await conn.execute(
                    sa.select(t.c.id, t.c.topic, t.c.message_key, t.c.payload, t.c.headers, t.c.created_at)
                    .order_by(t.c.id)
                    .limit(self._batch_size)
                )
            ).all()
            if not rows:
                observability.OUTBOX_BACKLOG.labels(self._service).set(0)
                observability.OUTBOX_OLDEST_AGE.labels(self._service).set(0)
                observability.OUTBOX_OLDEST_UNPUBLISHED_AGE.labels(self._service).set(0)
                return 0
            futures = [
                await self._producer.send(
                    row.topic,
                    value=bytes(row.payload),
                    key=row.message_key.encode(),
                    headers=[(k, str(v).encode()) for k, v in (row.headers or {}).items()],
                )
                for row in rows
            ]
            await asyncio.gather(*futures)
            await conn.execute(sa.delete(t).where(t.c.id.in_([row.id for row in rows])))
            oldest = rows[0].created_at
            if oldest is not None and oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=UTC)
            observability.OUTBOX_PUBLISHED.labels(self._service).inc(len(rows))
            observability.OUTBOX_OLDEST_AGE.labels(self._service).set(
                (datetime.now(UTC) - oldest).total_seconds() if oldest else 0
            )
        return len(rows)

    async def refresh_gauges(self) -> None:
        """The backlog and the age of its oldest row, read from the table itself: the
        relay may be idle, stuck on the broker or not the replica holding the lock,
        and the alert on a stuck outbox must see it all the same."""
        t = self._table
        async with self._engine.connect() as conn:
            waiting, oldest = (await conn.execute(sa.select(sa.func.count(), sa.func.min(t.c.created_at)))).one()
        observability.OUTBOX_BACKLOG.labels(self._service).set(waiting)
        age = 0.0
        if oldest is not None:
            oldest = oldest if oldest.tzinfo is not None else oldest.replace(tzinfo=UTC)
            age = max((datetime.now(UTC) - oldest).total_seconds(), 0.0)
        observability.OUTBOX_OLDEST_UNPUBLISHED_AGE.labels(self._service).set(age)

    async def _watch_backlog(self) -> None:
        while not self._stopping:
            try:
                await self.refresh_gauges()
            except Exception as exc:
                log.warning("could not read the outbox backlog: %r", exc)
            await asyncio.sleep(self._gauge_interval)
