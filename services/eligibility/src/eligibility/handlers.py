"""Event handlers: plain functions of (event, unit of work), listed in HANDLERS."""

from __future__ import annotations

from datetime import UTC, datetime

from eligibility import service
from eligibility.repository import EligibilityRepository
from mianshen_shared import city as city_config
from mianshen_shared.events.catalog import DepartmentRecordSubmitted, PolicyPublished, PolicyRetired
from mianshen_shared.messaging import UnitOfWork


async def on_department_record(event: DepartmentRecordSubmitted, uow: UnitOfWork) -> None:
    determined = await service.record_submitted(
        EligibilityRepository(uow.session), city=city_config.current(), record=event, now=datetime.now(UTC)
    )
    for entitlement in determined:
        await uow.emit(entitlement, key=entitlement.uscc)


async def on_policy_published(event: PolicyPublished, uow: UnitOfWork) -> None:
    determined = await service.policy_published(EligibilityRepository(uow.session), event=event, now=datetime.now(UTC))
    for entitlement in determined:
        await uow.emit(entitlement, key=entitlement.uscc)


async def on_policy_retired(event: PolicyRetired, uow: UnitOfWork) -> None:
    determined = await service.policy_retired(EligibilityRepository(uow.session), event=event, now=datetime.now(UTC))
    for entitlement in determined:
        await uow.emit(entitlement, key=entitlement.uscc)


HANDLERS = {
    "department.record.submitted": on_department_record,
    "policy.published": on_policy_published,
    "policy.retired": on_policy_retired,
}
CONSUMED_TOPICS = ["department-records", "policies"]
