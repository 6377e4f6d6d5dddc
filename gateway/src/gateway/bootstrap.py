"""Composition root: what the gateway process holds — the city configuration,
one Kafka producer and one HTTP client shared by every request.

The gateway has no outbox and no consumer: the producer is the whole of its
messaging, and tests replace it (and the upstream transport) with fakes here. Its
own small database holds registered clients, consents and the audit log
(gateway.models), migrated at start like every service's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Annotated

import httpx
from aiokafka import AIOKafkaProducer
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway import clients
from gateway.audit import AuditKeys, ChainWriter, log_anchors
from gateway.config import Settings
from gateway.service import Producer
from gateway.tokens import KeyRing
from gateway.upstream import Upstreams
from mianshen_shared import city as city_config
from mianshen_shared import db
from mianshen_shared.city import City
from mianshen_shared.topics import ensure_topics


@dataclass
class Gateway:
    settings: Settings
    city: City = field(default_factory=city_config.current)
    producer: Producer | None = None
    upstream_transport: httpx.AsyncBaseTransport | None = None
    http: httpx.AsyncClient | None = None
    upstreams: Upstreams | None = None
    # Without a broker (messaging disabled, nothing injected) data-events answer 503
    # and readiness does not wait for one.
    broker_expected: bool = False
    engine: AsyncEngine | None = None
    sessions: async_sessionmaker[AsyncSession] | None = None
    # Access-token signing keys (issue 5, gateway.tokens).
    keys: KeyRing | None = None
    audit: ChainWriter | None = None
    _kafka: AIOKafkaProducer | None = None
    _anchoring: asyncio.Task[None] | None = None
    _front_ends: dict[str, tuple[float, list[dict[str, str]] | None]] = field(default_factory=dict)

    async def start(self) -> None:
        s = self.settings
        await db.migrate("gateway.migrations", s.database_url)
        self.engine = db.make_engine(s.database_url)
        self.sessions = db.make_sessionmaker(self.engine)
        self.keys = KeyRing.from_config(s.gateway_signing_keys, environment=s.environment, state_dir=s.state_dir)
        self.audit = ChainWriter(self.sessions, AuditKeys.from_config(s.audit_keys, environment=s.environment))
        if s.audit_anchor_seconds > 0:
            self._anchoring = asyncio.create_task(log_anchors(self.sessions, s.audit_anchor_seconds))
        if s.bootstrap_clients_file is not None:
            await clients.load_bootstrap(self.sessions, s.bootstrap_clients_file, city=self.city)
        self.broker_expected = self.producer is not None or s.messaging_enabled
        self.http = httpx.AsyncClient(transport=self.upstream_transport, timeout=s.upstream_timeout_seconds)
        self.upstreams = Upstreams(self.http, s)
        if self.producer is None and s.messaging_enabled:
            await ensure_topics(s.kafka_bootstrap, s.topic_prefix)
            self._kafka = AIOKafkaProducer(
                bootstrap_servers=s.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5
            )
            await self._kafka.start()
            self.producer = self._kafka

    async def stop(self) -> None:
        if self._anchoring is not None:
            self._anchoring.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._anchoring
        if self._kafka is not None:
            await self._kafka.stop()
            self.producer = self._kafka = None
        if self.http is not None:
            await self.http.aclose()
        if self.engine is not None:
            await self.engine.dispose()

    async def front_end_keys(self, client_id: str) -> list[dict[str, str]] | None:
        """An active front end's assertion keys (None when unknown or disabled), read
        at most every `client_cache_seconds` per process: the lookup is on the path of
        every enterprise call, and a disabled front end is refused within that time."""
        now = time.monotonic()
        cached = self._front_ends.get(client_id)
        if cached is not None and now - cached[0] < self.settings.client_cache_seconds:
            return cached[1]
        assert self.sessions is not None, "the gateway's lifespan has not started"
        async with self.sessions() as session:
            client = await clients.find(session, client_id)
            keys = list(client.assertion_keys or []) if client is not None and client.status == "active" else None
        self._front_ends[client_id] = (now, keys)
        return keys

    def producer_ready(self) -> bool:
        # AIOKafkaProducer keeps `_closed`; injected fakes may not have it.
        return self.producer is not None and not getattr(self.producer, "_closed", False)

    @property
    def records_topic(self) -> str:
        return self.settings.topic("department-records")


def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


async def get_upstreams(request: Request) -> Upstreams:
    upstreams = get_gateway(request).upstreams
    assert upstreams is not None, "the gateway's lifespan has not started"
    return upstreams


async def _gateway(request: Request) -> Gateway:
    # Async, or FastAPI would run it in a worker thread on every request.
    return get_gateway(request)


GatewayDep = Annotated[Gateway, Depends(_gateway)]
UpstreamsDep = Annotated[Upstreams, Depends(get_upstreams)]
