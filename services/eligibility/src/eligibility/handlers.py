"""Event handlers: plain functions of (event, unit of work), listed in HANDLERS, and of
(run of events, unit of work), listed in BATCH_HANDLERS.

Every handler that reads or writes entitlements first takes the evaluation lock in
shared mode, so it never interleaves with a chunk of a re-evaluation job."""

from __future__ import annotations

from datetime import UTC, datetime

from eligibility import service
from eligibility.repository import EligibilityRepository
from mianshen_shared import city as city_config
from mianshen_shared.events import Envelope
from mianshen_shared.events.catalog import DepartmentRecordSubmitted, PaymentIssued, PolicyPublished, PolicyRetired
from mianshen_shared.messaging import UnitOfWork


async def _repository(uow: UnitOfWork) -> EligibilityRepository:
    repo = EligibilityRepository(uow.session)
    await repo.lock_evaluations(exclusive=False)
    return repo


async def on_department_records(items: list[tuple[DepartmentRecordSubmitted, Envelope]], uow: UnitOfWork) -> None:
    determined = await service.records_submitted(
        await _repository(uow),
        city=city_config.current(),
        records=[record for record, _ in items],
        now=datetime.now(UTC),
    )
    for (_, envelope), entitlements in zip(items, determined, strict=True):
        for entitlement in entitlements:
            await uow.emit(entitlement, key=entitlement.uscc, correlation_id=envelope.correlationid)


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


HANDLERS = {
    "policy.published": on_policy_published,
    "policy.retired": on_policy_retired,
    "payment.issued": on_payment_issued,
}
# A run of department records is stored and evaluated with a fixed number of queries.
BATCH_HANDLERS = {"department.record.submitted": on_department_records}
CONSUMED_TOPICS = ["department-records", "policies", "payments"]
