"""Event handlers: plain functions of (event, unit of work), listed in HANDLERS, and of
(run of events, unit of work), listed in BATCH_HANDLERS.

Every handler that reads or writes entitlements first takes the evaluation lock in
shared mode, so it never interleaves with a chunk of a re-evaluation job.

Department records are also counted for 数据共享督办 (see supervision.py): accepted ones
in the handler's own transaction, refused ones by `count_refused_records`, which the
consumer calls once the record is on the dead-letter topic."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from eligibility import service, supervision
from eligibility.repository import EligibilityRepository
from mianshen_shared import city as city_config
from mianshen_shared import observability
from mianshen_shared.db import transaction
from mianshen_shared.events import Envelope
from mianshen_shared.events.catalog import (
    BenefitExecuted,
    DepartmentRecordSubmitted,
    PaymentIssued,
    PolicyPublished,
    PolicyRetired,
)
from mianshen_shared.messaging import DeadLetter, DeadLetterHook, UnitOfWork


async def _repository(uow: UnitOfWork) -> EligibilityRepository:
    repo = EligibilityRepository(uow.session)
    await repo.lock_evaluations(exclusive=False)
    return repo


async def on_department_records(items: list[tuple[DepartmentRecordSubmitted, Envelope]], uow: UnitOfWork) -> None:
    repo, city = await _repository(uow), city_config.current()
    records = [record for record, _ in items]
    determined = await service.records_submitted(repo, city=city, records=records, now=datetime.now(UTC))
    for (_, envelope), entitlements in zip(items, determined, strict=True):
        for entitlement in entitlements:
            await uow.emit(entitlement, key=entitlement.uscc, correlation_id=envelope.correlationid, cause=envelope)
    # Last, so the rows other replicas also count are held only until the commit that follows.
    counts = supervision.accepted(records)
    await repo.add_feed_counts(counts)
    # Counted once stored: a batch rolled back and retried record by record counts once.
    observability.on_commit(lambda: supervision.export_counts(city, counts))


def count_refused_records(sessions: async_sessionmaker[AsyncSession]) -> DeadLetterHook:
    """The consumer's dead-letter hook: a refused department record, counted against its
    department and reason in a short transaction of its own (the handler's was rolled
    back). At least once, like the dead-letter topic itself: a message dead-lettered
    twice after a crash is counted twice, as it appears twice on the topic."""

    async def count(dead: DeadLetter) -> None:
        refused = supervision.rejected(dead)
        if refused is None:
            return
        async with transaction(sessions) as session:
            await EligibilityRepository(session).add_feed_counts([refused])
        supervision.export_counts(city_config.current(), [refused])

    return count


async def on_policy_published(event: PolicyPublished, uow: UnitOfWork) -> None:
    # The enterprises are re-evaluated by the background worker, in chunks.
    await service.policy_published(
        await _repository(uow), event=event, now=datetime.now(UTC), correlation_id=uow.envelope.correlationid
    )


async def on_policy_retired(event: PolicyRetired, uow: UnitOfWork) -> None:
    await service.policy_retired(
        await _repository(uow), event=event, now=datetime.now(UTC), correlation_id=uow.envelope.correlationid
    )


async def on_payment_issued(event: PaymentIssued, uow: UnitOfWork) -> None:
    repo = await _repository(uow)
    now = datetime.now(UTC)
    if await service.payment_issued(repo, payment=event, event_id=str(uow.envelope.id), now=now) is None:
        return  # told before: its re-evaluation was done then
    for entitlement in await service.redetermine_after_payment(repo, payment=event, now=now):
        await uow.emit(entitlement, key=entitlement.uscc, correlation_id=uow.envelope.correlationid)


async def on_benefit_executed(event: BenefitExecuted, uow: UnitOfWork) -> None:
    # A reduction its department carried out is granted just as a payment is paid:
    # the award history must know it, or a renewal would grant the full value again.
    await on_payment_issued(
        PaymentIssued(
            uscc=event.uscc,
            payment_id=event.instruction_id,
            entitlement_id=event.entitlement_id,
            policy_id=event.policy_id,
            amount_fen=event.amount_fen,
            idempotency_key=f"instruction-{event.instruction_id}",
            finance_reference=event.reference,
            issued_at=event.executed_at,
        ),
        uow,
    )


HANDLERS = {
    "policy.published": on_policy_published,
    "policy.retired": on_policy_retired,
    "payment.issued": on_payment_issued,
    "benefit.executed": on_benefit_executed,
}
# A run of department records is stored and evaluated with a fixed number of queries.
BATCH_HANDLERS = {"department.record.submitted": on_department_records}
CONSUMED_TOPICS = ["department-records", "policies", "payments"]
