"""A run of determinations applied at once gives exactly what applying them one by one
gives, with a number of queries that does not grow with the run."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from confirmation import service
from confirmation.handlers import BATCH_HANDLERS, HANDLERS
from confirmation.models import Base, Confirmation, Entitlement, StatusEvent
from mianshen_shared import db, testing, tracing
from mianshen_shared.events import Envelope, Payload, make_envelope
from mianshen_shared.events.catalog import ConfirmationRequested, EntitlementDetermined
from mianshen_shared.messaging import UnitOfWork

from .factories import determination, new_account, payment_issued
from .fakes import FakeConfirmationRepository, RecordingEmitter

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 25, 9, tzinfo=UTC)


class Scenario:
    """Entitlements in every state a determination can meet, and a run touching them all."""

    def __init__(self) -> None:
        uscc = self.uscc = testing.make_uscc()
        self.pending = determination(uscc, amount_fen=30_000_000)
        self.accepted = determination(uscc, amount_fen=30_000_000)
        self.withdrawn = determination(uscc, amount_fen=30_000_000)
        self.unchanged = determination(uscc, amount_fen=30_000_000)
        self.paid = determination(uscc, amount_fen=30_000_000)
        self.payment = payment_issued(uscc, self.paid.entitlement_id)
        self.withdrawal = self.again(self.withdrawn, change="withdrawn")
        fresh = determination(uscc, amount_fen=10_000_000)
        self.run = [
            fresh,
            fresh.model_copy(),  # the same determination again: nothing happens
            self.again(fresh, change="changed", amount_fen=40_000_000),
            self.again(fresh, change="withdrawn"),
            self.again(self.pending, change="changed", amount_fen=50_000_000),
            self.again(self.accepted, change="changed", amount_fen=60_000_000),
            self.again(self.withdrawn, change="changed", amount_fen=30_000_000),
            self.unchanged.model_copy(),
            self.again(self.pending, change="withdrawn"),
            self.again(self.paid, change="withdrawn"),
            determination(uscc, amount_fen=20_000_000),
            self.again(fresh, change="changed", amount_fen=45_000_000),  # reinstated within the run
        ]

    def again(self, d: EntitlementDetermined, **changes: Any) -> EntitlementDetermined:
        return determination(self.uscc, entitlement_id=d.entitlement_id, **changes)

    async def prepare(self) -> tuple[FakeConfirmationRepository, RecordingEmitter]:
        repo, emit = FakeConfirmationRepository(), RecordingEmitter()
        for d in (self.pending, self.accepted, self.withdrawn, self.unchanged, self.paid):
            await service.apply_determination(repo, determination=d, now=NOW, emit=emit)
        requests = {r.entitlement_id: r for r in emit.of_type(ConfirmationRequested)}  # type: ignore[attr-defined]
        for d in (self.accepted, self.paid):
            await service.accept(
                repo,
                uscc=self.uscc,
                confirmation_id=requests[d.entitlement_id].confirmation_id,
                **new_account(),
                now=NOW,
                emit=emit,
            )
        await service.apply_payment_issued(repo, payment=self.payment, now=NOW)
        await service.apply_determination(repo, determination=self.withdrawal, now=NOW, emit=emit)
        emit.emitted.clear()
        repo.calls.clear()
        return repo, emit


def outcome(repo: FakeConfirmationRepository, emit: RecordingEmitter) -> dict[str, Any]:
    """Everything the enterprise and the other services can see, with the random
    confirmation ids replaced by the order in which they were created."""
    names: dict[str, str] = {}

    def name(value: Any) -> str:
        return names.setdefault(str(value), f"confirmation-{len(names)}")

    for c in sorted(repo.confirmations.values(), key=lambda c: (c.created_at, str(c.entitlement_id))):
        name(c.confirmation_id)

    def plain(payload: Payload) -> dict[str, Any]:
        fields = payload.model_dump(mode="json")
        if "confirmation_id" in fields:
            fields["confirmation_id"] = name(fields["confirmation_id"])
        if "acceptance_id" in fields:
            fields["acceptance_id"] = name(fields["acceptance_id"])
        if fields.get("bank_account"):
            fields["bank_account"]["account_number_sealed"] = "sealed"
        return {"type": type(payload).__name__, **fields}

    def step(e: StatusEvent) -> tuple[Any, ...]:
        details = dict(e.details)
        if "confirmation_id" in details:
            details["confirmation_id"] = name(details["confirmation_id"])
        if "acceptance_id" in details:
            details["acceptance_id"] = name(details["acceptance_id"])
        return (str(e.entitlement_id), e.status, e.kind, e.note, details, e.occurred_at)

    return {
        "emitted": [(plain(p), key) for p, key in emit.emitted],
        "entitlements": {
            str(i): (e.status, e.amount_fen, e.policy_version, e.explanation, e.determined_at, e.updated_at)
            for i, e in repo.entitlements.items()
        },
        "confirmations": {
            str(c.entitlement_id): (
                name(c.confirmation_id),
                c.status,
                c.amount_fen,
                c.deadline,
                c.close_reason,
                c.closed_at,
                c.account_number_masked,
            )
            for c in repo.confirmations.values()
        },
        "history": [step(e) for e in repo.history],
    }


async def test_a_mixed_run_at_once_ends_exactly_as_one_by_one() -> None:
    scenario = Scenario()
    one_repo, one_emit = await scenario.prepare()
    for d in scenario.run:
        await service.apply_determination(one_repo, determination=d, now=NOW, emit=one_emit)
    run_repo, run_emit = await scenario.prepare()

    await service.apply_determinations(run_repo, determinations=[(d, run_emit, None) for d in scenario.run], now=NOW)

    expected = outcome(one_repo, one_emit)
    assert outcome(run_repo, run_emit) == expected
    kinds = [e["type"] for e, _key in expected["emitted"]]
    assert kinds == [
        "ConfirmationRequested",  # the fresh one; its duplicate asks nothing
        "ConfirmationRequested",  # its new amount
        "ConfirmationClosed",  # its withdrawal
        "ConfirmationRequested",  # the pending one's new amount; the accepted one's is only recorded
        "ConfirmationRequested",  # the withdrawn one reinstated; the unchanged one asks nothing
        "ConfirmationClosed",  # the pending one withdrawn; the paid one's withdrawal is only recorded
        "ConfirmationRequested",  # another fresh one
        "ConfirmationRequested",  # the first fresh one reinstated within the run
    ]


async def test_a_run_reads_once_and_writes_once_however_long() -> None:
    scenario = Scenario()
    repo, emit = await scenario.prepare()

    await service.apply_determinations(repo, determinations=[(d, emit, None) for d in scenario.run], now=NOW)

    assert repo.calls == [
        "lock_entitlements",
        "confirmations_for_entitlements",
        "add_new",
        "add_status_events",
        "add_notifications",
    ]


async def test_determinations_are_consumed_in_runs() -> None:
    assert "entitlement.determined" in BATCH_HANDLERS
    assert "entitlement.determined" not in HANDLERS, "a type handled both ways would be handled twice"


# --- the handler on a real (embedded) database ---------------------------------------


class RecordingUnitOfWork:
    """What the consumer hands a batch handler, with the emitted events kept."""

    def __init__(self, session: Any, first: Envelope) -> None:
        self.emitted: list[tuple[Payload, str]] = []
        self.causes: list[Envelope | None] = []
        self.uow = UnitOfWork(session=session, envelope=first, emit=self.emit)

    async def emit(
        self,
        payload: Payload,
        *,
        key: str,
        subject: str | None = None,
        correlation_id: str | None = None,
        cause: Envelope | None = None,
    ) -> Envelope:
        envelope = make_envelope(payload, source="confirmation", subject=key, correlation_id=correlation_id or "")
        self.emitted.append((payload, envelope.correlationid))
        self.causes.append(cause)
        return envelope


def envelope_of(d: EntitlementDetermined) -> Envelope:
    envelope = make_envelope(d, source="eligibility", subject=d.uscc, correlation_id=f"push-{uuid.uuid4().hex[:8]}")
    return envelope.model_copy(update={"traceparent": tracing.new()})


@dataclass
class Handled:
    recording: RecordingUnitOfWork
    envelopes: list[Envelope]
    statements: list[str]
    engine: AsyncEngine


async def handle_run(path: Path, run: list[EntitlementDetermined]) -> Handled:
    """Runs the batch handler on a fresh SQLite file, foreign keys enforced."""
    engine = db.make_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    statements: list[str] = []
    sa.event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    envelopes = [envelope_of(d) for d in run]
    async with db.transaction(db.make_sessionmaker(engine)) as session:
        recording = RecordingUnitOfWork(session, envelopes[0])
        await BATCH_HANDLERS["entitlement.determined"](list(zip(run, envelopes, strict=True)), recording.uow)
    return Handled(recording, envelopes, statements, engine)


async def test_the_handler_stores_a_run_in_a_constant_number_of_statements(tmp_path: Path) -> None:
    uscc = testing.make_uscc()
    short = [determination(uscc) for _ in range(3)]
    long = [determination(uscc) for _ in range(60)]
    long += [determination(uscc, entitlement_id=d.entitlement_id, change="withdrawn") for d in long[:20]]

    few = await handle_run(tmp_path / "short.db", short)
    many = await handle_run(tmp_path / "long.db", long)

    assert len(many.statements) == len(few.statements)
    async with many.engine.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(Entitlement)) == 60
        closed = sa.select(sa.func.count()).select_from(Confirmation).where(Confirmation.status == "closed")
        assert await conn.scalar(closed) == 20
        history = sa.select(StatusEvent.kind).where(StatusEvent.entitlement_id == long[0].entitlement_id)
        kinds = (await conn.scalars(history.order_by(StatusEvent.id))).all()
    assert kinds == ["determined", "confirmation_requested", "withdrawn"], "history keeps its order"
    assert len(many.recording.emitted) == 80
    await many.engine.dispose()
    await few.engine.dispose()


async def test_each_emitted_event_carries_the_correlation_id_of_its_own_determination(tmp_path: Path) -> None:
    uscc = testing.make_uscc()
    run = [determination(uscc) for _ in range(3)]

    handled = await handle_run(tmp_path / "c.db", run)

    expected = {d.entitlement_id: e.correlationid for d, e in zip(run, handled.envelopes, strict=True)}
    got = {p.entitlement_id: correlation for p, correlation in handled.recording.emitted}  # type: ignore[attr-defined]
    assert got == expected
    assert len(set(got.values())) == 3
    await handled.engine.dispose()


async def test_each_emitted_event_follows_the_trace_of_its_own_determination(tmp_path: Path) -> None:
    uscc = testing.make_uscc()
    run = [determination(uscc) for _ in range(3)]

    handled = await handle_run(tmp_path / "t.db", run)

    caused_by = [cause.id if cause else None for cause in handled.recording.causes]
    assert caused_by == [e.id for e in handled.envelopes]
    async with handled.engine.connect() as conn:
        kept = dict((await conn.execute(sa.select(Entitlement.entitlement_id, Entitlement.traceparent))).all())
    assert kept == {d.entitlement_id: e.traceparent for d, e in zip(run, handled.envelopes, strict=True)}
    await handled.engine.dispose()
