"""The metrics of the contract with deploy/observability, as the shared machinery
records them: domain counters only for what was committed, the outbox's backlog
read from its table, consumer lag per partition."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from mianshen_shared import db, observability, testing
from mianshen_shared.events.catalog import PaymentIssued
from mianshen_shared.messaging import EventConsumer, Outbox, OutboxRelay, messaging_tables

pytestmark = pytest.mark.unit


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def issued(policy_id: str, amount_fen: int) -> PaymentIssued:
    entitlement_id = uuid.uuid4()
    return PaymentIssued(
        uscc=testing.make_uscc(),
        payment_id=uuid.uuid4(),
        entitlement_id=entitlement_id,
        policy_id=policy_id,
        amount_fen=amount_fen,
        idempotency_key=f"mjx-{entitlement_id}",
        finance_reference="CZ0001",
        issued_at=datetime(2026, 12, 1, tzinfo=UTC),
    )


async def outbox_database(path: Path) -> tuple[Any, sa.Table]:
    metadata = sa.MetaData()
    outbox_table, _ = messaging_tables(metadata)
    engine = db.make_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return engine, outbox_table


def test_every_contract_metric_is_named_with_its_series() -> None:
    assert "mianshen_paid_amount_fen_total" in observability.CONTRACT_METRICS
    assert "mianshen_funnel_step_seconds" in observability.CONTRACT_METRICS
    assert {"mianshen_funnel_step_seconds_bucket", "mianshen_budget_fen"} <= observability.CONTRACT_SERIES
    assert "mianshen_funnel_step_seconds" not in observability.CONTRACT_SERIES, "a histogram is queried by its parts"


def test_metrics_recorded_in_a_unit_of_work_that_fails_are_dropped() -> None:
    policy = f"p-{uuid.uuid4().hex[:6]}"

    def declined() -> None:
        observability.CONFIRMATIONS.labels(policy, "declined").inc()

    with pytest.raises(RuntimeError), observability.recorded_on_commit():
        observability.on_commit(declined)
        raise RuntimeError("rolled back")
    assert sample("mianshen_confirmations_total", policy_id=policy, outcome="declined") == 0
    with observability.recorded_on_commit():
        observability.on_commit(declined)
        assert sample("mianshen_confirmations_total", policy_id=policy, outcome="declined") == 0, "not before the end"
    assert sample("mianshen_confirmations_total", policy_id=policy, outcome="declined") == 1


async def test_an_emitted_payment_counts_only_once_its_transaction_committed(tmp_path: Path) -> None:
    engine, table = await outbox_database(tmp_path / "o.db")
    outbox = Outbox(table, source="payment", topic_for=lambda name: name)
    sessions = db.make_sessionmaker(engine)
    policy = f"p-{uuid.uuid4().hex[:6]}"

    with pytest.raises(RuntimeError):
        async with db.transaction(sessions) as session:
            await outbox.add(session, issued(policy, 500_000), key="k", correlation_id="c")
            raise RuntimeError("the state change failed after the event was written")
    assert sample("mianshen_payments_total", policy_id=policy, outcome="succeeded") == 0

    async with db.transaction(sessions) as session:
        await outbox.add(session, issued(policy, 500_000), key="k", correlation_id="c")
    assert sample("mianshen_payments_total", policy_id=policy, outcome="succeeded") == 1
    assert sample("mianshen_paid_amount_fen_total", policy_id=policy) == 500_000
    await engine.dispose()


def test_a_determination_counts_its_change_and_only_new_money() -> None:
    policy = f"p-{uuid.uuid4().hex[:6]}"
    observability.count_emitted("entitlement.determined", {"policy_id": policy, "change": "new", "amount_fen": 300})
    observability.count_emitted(
        "entitlement.determined",
        {"policy_id": policy, "change": "changed", "amount_fen": 500, "previous_amount_fen": 300},
    )
    observability.count_emitted(
        "entitlement.determined",
        {"policy_id": policy, "change": "changed", "amount_fen": 100, "previous_amount_fen": 500},
    )
    observability.count_emitted("entitlement.determined", {"policy_id": policy, "change": "withdrawn", "amount_fen": 0})
    assert sample("mianshen_determinations_total", policy_id=policy, change="changed") == 2
    assert sample("mianshen_determinations_total", policy_id=policy, change="withdrawn") == 1
    assert sample("mianshen_determined_amount_fen_total", policy_id=policy) == 500


def test_budgets_are_exported_per_policy_and_fiscal_year() -> None:
    observability.export_budgets({"p-budget": {2025: 1_000_000, 2026: 2_000_000}})
    assert sample("mianshen_budget_fen", policy_id="p-budget", fiscal_year="2026") == 2_000_000


async def test_the_outbox_backlog_and_the_age_of_its_oldest_row_are_read_from_the_table(tmp_path: Path) -> None:
    engine, table = await outbox_database(tmp_path / "o.db")
    service = f"svc-{uuid.uuid4().hex[:6]}"
    relay = OutboxRelay(engine, table, producer=None, service=service)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(table),
            [
                {
                    "event_id": str(uuid.uuid4()),
                    "topic": "t",
                    "message_key": "k",
                    "payload": b"{}",
                    "headers": {},
                    "created_at": now - timedelta(seconds=age),
                }
                for age in (90, 5)
            ],
        )

    await relay.refresh_gauges()
    assert sample("mianshen_outbox_backlog", service=service) == 2
    assert 90 <= sample("mianshen_outbox_oldest_unpublished_age_seconds", service=service) < 120

    async with engine.begin() as conn:
        await conn.execute(sa.delete(table))
    await relay.refresh_gauges()
    assert sample("mianshen_outbox_backlog", service=service) == 0
    assert sample("mianshen_outbox_oldest_unpublished_age_seconds", service=service) == 0
    await engine.dispose()


def lag(service: str, partition: int) -> float | None:
    labels = {"service": service, "topic": "t", "partition": str(partition)}
    return REGISTRY.get_sample_value("mianshen_consumer_lag_messages", labels)


class FakeKafkaConsumer:
    def __init__(self, ends: dict[TopicPartition, int | None], positions: dict[TopicPartition, int]) -> None:
        self.ends = ends
        self.positions = positions

    def assignment(self) -> set[TopicPartition]:
        return set(self.ends)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.ends[tp]

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]


async def test_consumer_lag_is_reported_per_assigned_partition_and_dropped_when_reassigned() -> None:
    service = f"svc-{uuid.uuid4().hex[:6]}"
    consumer = EventConsumer(
        service=service,
        group_id="g",
        bootstrap="unused:9092",
        topics=["t"],
        sessions=None,  # type: ignore[arg-type]
        processed_table=None,  # type: ignore[arg-type]
        handlers={},
        outbox=None,  # type: ignore[arg-type]
        dead_letter_topic="dlq",
        producer=None,  # type: ignore[arg-type]
    )
    p0, p1, p2 = (TopicPartition("t", i) for i in range(3))
    kafka = FakeKafkaConsumer({p0: 120, p1: 7, p2: None}, {p0: 100, p1: 7})

    await consumer._report_lag(kafka, force=True)  # type: ignore[arg-type]
    assert (lag(service, 0), lag(service, 1)) == (20, 0)
    assert lag(service, 2) is None, "nothing fetched from it yet"

    kafka.ends = {p1: 9}
    await consumer._report_lag(kafka, force=True)  # type: ignore[arg-type]
    assert lag(service, 0) is None, "another replica owns it now"
    assert lag(service, 1) == 2
