"""Event handlers: plain functions of (event, unit of work), listed in HANDLERS, and of
(run of events, unit of work), listed in BATCH_HANDLERS."""

from __future__ import annotations

from datetime import UTC, datetime

from eligibility import service
from eligibility.repository import EligibilityRepository
from mianshen_shared import city as city_config
from mianshen_shared.events import Envelope
from mianshen_shared.events.catalog import DepartmentRecordSubmitted, PolicyPublished, PolicyRetired
from mianshen_shared.messaging import UnitOfWork


async def on_department_records(items: list[tuple[DepartmentRecordSubmitted, Envelope]], uow: UnitOfWork) -> None:
    determined = await service.records_submitted(
        EligibilityRepository(uow.session),
        city=city_config.current(),
        records=[record for record, _ in items],
        now=datetime.now(UTC),
    )
    for (_, envelope), entitlements in zip(items, determined, strict=True):
        for entitlement in entitlements:
            await uow.emit(entitlement, key=entitlement.uscc, correlation_id=envelope.correlationid)


async def on_policy_published(event: PolicyPublished, uow: UnitOfWork) -> None:
    determined = await service.policy_published(EligibilityRepository(uow.session), event=event, now=datetime.now(UTC))
    for entitlement in determined:
        await uow.emit(entitlement, key=entitlement.uscc)


async def on_policy_retired(event: PolicyRetired, uow: UnitOfWork) -> None:
    determined = await service.policy_retired(EligibilityRepository(uow.session), event=event, now=datetime.now(UTC))
    for entitlement in determined:
        await uow.emit(entitlement, key=entitlement.uscc)


HANDLERS = {
    "policy.published": on_policy_published,
    "policy.retired": on_policy_retired,
}
# A run of department records is stored and evaluated with a fixed number of queries.
BATCH_HANDLERS = {"department.record.submitted": on_department_records}
CONSUMED_TOPICS = ["department-records", "policies"]
