"""What every service process runs besides its HTTP routes: the producer, the
outbox relay and the event consumer, started and stopped with the app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mianshen_shared import db
from mianshen_shared.config import ServiceSettings
from mianshen_shared.messaging import EventConsumer, Outbox, OutboxRelay
from mianshen_shared.messaging.consumer import BatchHandler, DeadLetterHook, Handler, _start_with_retry
from mianshen_shared.topics import DEAD_LETTER, ensure_topics

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The wiring of one service process (its composition root's product)."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    outbox_table: Table
    processed_table: Table
    migrations_package: str
    handlers: dict[str, Handler] = field(default_factory=dict)
    batch_handlers: dict[str, BatchHandler] = field(default_factory=dict)
    consumed_topics: list[str] = field(default_factory=list)
    on_dead_letter: DeadLetterHook | None = None
    outbox: Outbox = field(init=False)
    producer: AIOKafkaProducer | None = None
    relay: OutboxRelay | None = None
    consumer: EventConsumer | None = None
    extra_tasks: list[Any] = field(default_factory=list)  # coroutine factories: fn(runtime) -> awaitable
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.outbox_table, source=self.settings.service_name, topic_for=self.settings.topic)

    def notify_relay(self) -> None:
        if self.relay is not None:
            self.relay.notify()

    async def start(self, *, migrate: bool = True) -> None:
        if migrate:
            await db.migrate(self.migrations_package, self.settings.database_url)
        if not self.settings.messaging_enabled:
            return
        s = self.settings
        await ensure_topics(s.kafka_bootstrap, s.topic_prefix)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=256 * 1024,
        )
        await _start_with_retry(self.producer)
        self.relay = OutboxRelay(self.engine, self.outbox_table, self.producer, service=s.service_name)
        self._spawn(self.relay.run(), "outbox-relay")
        if self.handlers or self.batch_handlers:
            self.consumer = EventConsumer(
                service=s.service_name,
                group_id=f"{s.topic_prefix}{s.service_name}",
                bootstrap=s.kafka_bootstrap,
                topics=[s.topic(t) for t in self.consumed_topics],
                sessions=self.sessions,
                processed_table=self.processed_table,
                handlers=self.handlers,
                batch_handlers=self.batch_handlers,
                outbox=self.outbox,
                dead_letter_topic=s.topic(DEAD_LETTER),
                producer=self.producer,
                on_commit=self.notify_relay,
                on_dead_letter=self.on_dead_letter,
            )
            self._spawn(self.consumer.run(), "event-consumer")
        for factory in self.extra_tasks:
            self._spawn(factory(self), getattr(factory, "__name__", "task"))

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._on_task_done)
        self._tasks.append(task)

    @staticmethod
    def _on_task_done(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s died", task.get_name(), exc_info=task.exception())

    def healthy(self) -> bool:
        """Alive: no background task has died."""
        return all(not t.done() for t in self._tasks)

    async def stop(self) -> None:
        if self.relay:
            self.relay.stop()
        if self.consumer:
            self.consumer.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.producer:
            await self.producer.stop()
        await self.engine.dispose()


def build_runtime(settings: ServiceSettings, metadata: MetaData, migrations_package: str, **kwargs: Any) -> Runtime:
    engine = db.make_engine(settings.database_url)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=db.make_sessionmaker(engine),
        outbox_table=metadata.tables["outbox"],
        processed_table=metadata.tables["processed_events"],
        migrations_package=migrations_package,
        **kwargs,
    )
