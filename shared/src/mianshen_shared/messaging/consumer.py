"""Idempotent Kafka consumers with a dead-letter topic.

For each batch: every message is parsed and handled inside one database
transaction together with the record of its event id; the Kafka offsets are
committed only after that transaction commits. A message that can never be
processed (malformed, invalid, rejected by the domain) is sent to the
dead-letter topic with its reason, and the consumer moves on. Errors that may
pass (database or broker unavailable) are retried with backoff, never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mianshen_shared import observability, tracing
from mianshen_shared.events import Envelope, InvalidEvent, Payload, parse_envelope, parse_payload
from mianshen_shared.logs import correlation
from mianshen_shared.messaging.outbox import Outbox

log = logging.getLogger(__name__)

# Failures that may pass by themselves: retry, never skip the message.
TRANSIENT = (OperationalError, InterfaceError, OSError, ConnectionError)
# SQLSTATEs that pass by themselves: connection exceptions (class 08), a server
# shutting down, crashed or still starting up (57P01–57P03), too many connections
# (53300), serialization failures and deadlocks (40001, 40P01).
_TRANSIENT_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300", "40001", "40P01")


def is_transient(exc: BaseException) -> bool:
    """Whether a failure may pass by itself (retry) rather than be the message's fault
    (dead-letter). SQLAlchemy reports some outages only as a generic DBAPIError —
    asyncpg's "the database system is starting up" after a crash is one — so the
    SQLSTATE of every exception in the chain is read too."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TRANSIENT):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        sqlstate = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_TRANSIENT_SQLSTATES):
            return True
        orig = getattr(current, "orig", None)
        current = (
            orig
            if isinstance(orig, BaseException) and id(orig) not in seen
            else (current.__cause__ or current.__context__)
        )
    return False


class Rejected(Exception):
    """Raised by a handler for an event the domain refuses; the event is dead-lettered."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class UnitOfWork:
    """What a handler gets: the open transaction and a way to emit events in it.

    `emit(payload, key=..., subject=None, correlation_id=None, cause=None)` adds an
    event to the outbox of this transaction. Its correlation id and trace follow the
    handled event; a batch handler passes `cause=` the envelope of the event in the
    run that caused it, so each emitted event follows its own cause.
    """

    session: AsyncSession
    envelope: Envelope
    emit: Callable[..., Awaitable[Envelope]]
    emitted: list[Envelope] = field(default_factory=list)


Handler = Callable[[Any, UnitOfWork], Awaitable[None]]
# Handles a run of consecutive events of one type at once: [(payload, envelope), ...].
BatchHandler = Callable[[list[tuple[Any, Envelope]], UnitOfWork], Awaitable[None]]


@dataclass(frozen=True)
class DeadLetter:
    """A message just copied to the dead-letter topic, told to a service that keeps its
    own account of refusals (eligibility's feed supervision). `envelope` is None when
    the envelope itself could not be read."""

    reason: str
    message: str
    envelope: Envelope | None


# Runs after the message is safely on the dead-letter topic, outside any handler's
# transaction (which was rolled back); its failure is logged, never retried.
DeadLetterHook = Callable[[DeadLetter], Awaitable[None]]


@dataclass(frozen=True)
class Delivery:
    envelope: Envelope
    payload: Payload


class EventConsumer:
    def __init__(
        self,
        *,
        service: str,
        group_id: str,
        bootstrap: str,
        topics: list[str],
        sessions: async_sessionmaker[AsyncSession],
        processed_table: Table,
        handlers: dict[str, Handler],
        outbox: Outbox,
        dead_letter_topic: str,
        producer: AIOKafkaProducer,
        on_commit: Callable[[], None] | None = None,
        max_records: int = 500,
        batch_handlers: dict[str, BatchHandler] | None = None,
        on_dead_letter: DeadLetterHook | None = None,
    ) -> None:
        self._service = service
        self._group_id = group_id
        self._bootstrap = bootstrap
        self._topics = topics
        self._sessions = sessions
        self._processed = processed_table
        self._handlers = handlers
        self._batch_handlers = batch_handlers or {}
        self._interesting = set(handlers) | set(self._batch_handlers)
        self._outbox = outbox
        self._dlq = dead_letter_topic
        self._producer = producer
        self._on_commit = on_commit
        self._on_dead_letter = on_dead_letter
        self._max_records = max_records
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = False
        self._lag_due = 0.0
        self._lag_reported: set[TopicPartition] = set()

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=self._bootstrap,
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self._max_records,
        )
        self._consumer = consumer
        await _start_with_retry(consumer)
        try:
            while not self._stopping:
                try:
                    batch = await consumer.getmany(timeout_ms=200, max_records=self._max_records)
                    if batch:
                        await self._process_batch(consumer, batch)
                    await self._report_lag(consumer, force=bool(batch))
                except KafkaError as exc:
                    # A rebalance (another replica joined) or a broker outage: the
                    # uncommitted messages come again, to us or to the new owner, and
                    # are recognised by their event ids. Keep consuming.
                    log.warning("Kafka error in the consumer loop; carrying on: %r", exc)
                    await asyncio.sleep(1.0)
        finally:
            await consumer.stop()

    async def _process_batch(
        self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]
    ) -> None:
        """One poll's messages from every partition in one transaction, then one offset
        commit. Order is kept within each partition, which is all Kafka promises; one
        enterprise's events share a partition, so they stay in order."""
        deliveries: list[tuple[ConsumerRecord[Any, Any], Delivery | None]] = []
        for messages in batch.values():
            for msg in messages:
                deliveries.append((msg, await self._decode(msg)))
        backoff = 0.2
        while True:
            try:
                await self._apply_batch(deliveries)
                break
            except Exception as exc:
                if is_transient(exc):
                    log.warning("transient failure handling a batch; retrying in %.1fs: %s", backoff, exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                # Something in the batch cannot be applied: handle each message on
                # its own so only the bad one goes to the dead-letter topic.
                await self._apply_one_by_one(deliveries)
                break
        if self._on_commit:
            self._on_commit()  # the database commit is done: the relay may publish now
        await consumer.commit({tp: messages[-1].offset + 1 for tp, messages in batch.items()})

    async def _report_lag(self, consumer: AIOKafkaConsumer, *, force: bool) -> None:
        """Per assigned partition: its end minus our position, which after a batch is
        the committed offset. Once a second while idle; partitions handed to another
        replica stop being reported here."""
        now = time.monotonic()
        if not force and now < self._lag_due:
            return
        self._lag_due = now + 1.0
        try:
            reported = set()
            for tp in consumer.assignment():
                end = consumer.highwater(tp)
                if end is None:
                    continue  # nothing fetched from it yet
                position = await consumer.position(tp)
                observability.CONSUMER_LAG.labels(self._service, tp.topic, str(tp.partition)).set(
                    max(end - position, 0)
                )
                reported.add(tp)
            for tp in self._lag_reported - reported:
                with contextlib.suppress(KeyError):
                    observability.CONSUMER_LAG.remove(self._service, tp.topic, str(tp.partition))
            self._lag_reported = reported
        except Exception as exc:  # a rebalance in progress; the next poll reports
            log.debug("consumer lag not reported: %r", exc)

    async def _decode(self, msg: ConsumerRecord[Any, Any]) -> Delivery | None:
        try:
            envelope = parse_envelope(msg.value)
        except InvalidEvent as exc:
            await self._dead_letter(msg, exc.reason, exc.message)
            return None
        if envelope.type not in self._interesting:
            return None  # an event type this service does not listen to
        try:
            payload = parse_payload(envelope)
        except InvalidEvent as exc:
            await self._dead_letter(msg, exc.reason, exc.message, envelope)
            return None
        return Delivery(envelope, payload)

    async def _apply_batch(self, deliveries: list[tuple[ConsumerRecord[Any, Any], Delivery | None]]) -> None:
        with observability.recorded_on_commit():
            async with self._sessions() as session, session.begin():
                await self._apply(session, [d for _m, d in deliveries if d is not None])

    async def _apply_one_by_one(self, deliveries: list[tuple[ConsumerRecord[Any, Any], Delivery | None]]) -> None:
        for msg, delivery in deliveries:
            if delivery is None:
                continue
            backoff = 0.2
            while True:
                try:
                    with observability.recorded_on_commit():
                        async with self._sessions() as session, session.begin():
                            await self._apply(session, [delivery])
                    break
                except (Rejected, InvalidEvent) as exc:
                    await self._dead_letter(msg, exc.reason, exc.message, delivery.envelope)
                    break
                except IntegrityError as exc:
                    await self._dead_letter(msg, "integrity_error", f"数据约束冲突：{exc.orig}", delivery.envelope)
                    break
                except Exception as exc:
                    if is_transient(exc):
                        log.warning("transient failure; retrying in %.1fs: %s", backoff, exc)
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, 10.0)
                        continue
                    log.exception("handler failed on event %s", delivery.envelope.id)
                    await self._dead_letter(
                        msg, "handler_error", f"处理失败：{type(exc).__name__}: {exc}", delivery.envelope
                    )
                    break

    async def _apply(self, session: AsyncSession, deliveries: list[Delivery]) -> None:
        """Handle the deliveries in one transaction: drop those already processed, run
        the handlers in order (a batch handler takes a run of its type at once), then
        record the event ids and write the outbox rows, each in one statement."""
        ids = [str(d.envelope.id) for d in deliveries]
        done = set(
            (await session.scalars(sa.select(self._processed.c.event_id).where(self._processed.c.event_id.in_(ids))))
            if ids
            else ()
        )
        fresh: list[Delivery] = []
        for d in deliveries:
            key = str(d.envelope.id)
            if key in done:
                observability.EVENTS_CONSUMED.labels(self._service, d.envelope.type, "duplicate").inc()
                continue
            done.add(key)
            fresh.append(d)
        rows: list[dict[str, Any]] = []

        def unit_of_work(envelope: Envelope) -> UnitOfWork:
            async def emit(
                payload: Payload,
                *,
                key: str,
                subject: str | None = None,
                correlation_id: str | None = None,
                cause: Envelope | None = None,
            ) -> Envelope:
                out, row = self._outbox.row(
                    payload,
                    key=key,
                    correlation_id=correlation_id or (cause or envelope).correlationid,
                    subject=subject,
                    # Without a cause: the span the handler runs in (see below).
                    traceparent=tracing.child(cause.traceparent) if cause is not None else None,
                )
                rows.append(row)
                uow.emitted.append(out)
                return out

            uow = UnitOfWork(session=session, envelope=envelope, emit=emit)
            return uow

        i = 0
        while i < len(fresh):
            first = fresh[i]
            kind = first.envelope.type
            if kind in self._batch_handlers:
                j = i
                while j < len(fresh) and fresh[j].envelope.type == kind:
                    j += 1
                run = fresh[i:j]
                token = correlation.set(first.envelope.correlationid)
                try:
                    with tracing.span(first.envelope.traceparent):
                        await self._batch_handlers[kind](
                            [(d.payload, d.envelope) for d in run], unit_of_work(first.envelope)
                        )
                finally:
                    correlation.reset(token)
                i = j
            else:
                token = correlation.set(first.envelope.correlationid)
                try:
                    with tracing.span(first.envelope.traceparent):
                        await self._handlers[kind](first.payload, unit_of_work(first.envelope))
                finally:
                    correlation.reset(token)
                i += 1
        if fresh:
            now = datetime.now(UTC)
            await session.execute(
                sa.insert(self._processed),
                [{"event_id": str(d.envelope.id), "event_type": d.envelope.type, "processed_at": now} for d in fresh],
            )
        await self._outbox.insert(session, rows)
        for d in fresh:
            observability.EVENTS_CONSUMED.labels(self._service, d.envelope.type, "processed").inc()
        for d in fresh:
            # One line per event, under its correlation id, so one department push
            # can be followed through every service to its payment.
            token = correlation.set(d.envelope.correlationid)
            trace_token = tracing.current.set(d.envelope.traceparent)
            try:
                log.info(
                    "handled %s",
                    d.envelope.type,
                    extra={"event_id": str(d.envelope.id), "subject": d.envelope.subject},
                )
            finally:
                tracing.current.reset(trace_token)
                correlation.reset(token)
        if log.isEnabledFor(logging.DEBUG):
            for row in rows:
                token = correlation.set(row["headers"]["correlationid"])
                try:
                    log.debug(
                        "emitted %s",
                        row["headers"]["type"],
                        extra={"event_id": row["event_id"], "subject": row["message_key"]},
                    )
                finally:
                    correlation.reset(token)

    async def _dead_letter(
        self, msg: ConsumerRecord[Any, Any], reason: str, message: str, envelope: Envelope | None = None
    ) -> None:
        """Keep the original bytes; say why in the headers. Never drop silently."""
        headers = [
            ("dlq.reason", reason.encode()),
            ("dlq.message", message.encode()),
            ("dlq.source.topic", msg.topic.encode()),
            ("dlq.source.partition", str(msg.partition).encode()),
            ("dlq.source.offset", str(msg.offset).encode()),
            ("dlq.consumer", self._group_id.encode()),
            ("dlq.time", datetime.now(UTC).isoformat().encode()),
        ]
        if envelope is not None:
            headers.append(("correlationid", envelope.correlationid.encode()))
            if envelope.traceparent is not None:
                headers.append((tracing.HEADER, envelope.traceparent.encode()))
        await self._producer.send_and_wait(self._dlq, value=msg.value or b"", key=msg.key, headers=headers)
        observability.DEAD_LETTERED.labels(self._service, reason).inc()
        log.warning(
            "dead-lettered message",
            extra={"reason": reason, "detail": message, "topic": msg.topic, "offset": msg.offset},
        )
        if self._on_dead_letter is not None:
            try:
                await self._on_dead_letter(DeadLetter(reason, message, envelope))
            except Exception:
                log.exception("the dead-letter hook failed; the message is on the dead-letter topic all the same")


async def _start_with_retry(client: Any, attempts: int = 60) -> None:
    for attempt in range(attempts):
        try:
            await client.start()
            return
        except Exception:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)
