"""Event handlers: plain functions of (event, unit of work), listed in HANDLERS."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from credit_check import service
from credit_check.repository import CreditRepository
from mianshen_shared import city as city_config
from mianshen_shared.events.catalog import ConfirmationAccepted, ConfirmationRevoked, DepartmentRecordSubmitted
from mianshen_shared.messaging import UnitOfWork

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def on_department_record(event: DepartmentRecordSubmitted, uow: UnitOfWork) -> None:
    city = city_config.current()
    if not service.is_credit_record(city, event.record_type):
        return  # another department's data; eligibility handles it
    now = datetime.now(UTC)
    changes = await service.record_credit(
        CreditRepository(uow.session), city=city, record=event, today=now.astimezone(SHANGHAI).date(), now=now
    )
    for payload in changes:
        await uow.emit(payload, key=payload.uscc)


async def on_confirmation_accepted(event: ConfirmationAccepted, uow: UnitOfWork) -> None:
    now = datetime.now(UTC)
    assessed = await service.assess(
        CreditRepository(uow.session), accepted=event, today=now.astimezone(SHANGHAI).date(), now=now
    )
    await uow.emit(assessed, key=event.uscc)


async def on_confirmation_revoked(event: ConfirmationRevoked, uow: UnitOfWork) -> None:
    await service.acceptance_revoked(CreditRepository(uow.session), revoked=event)


HANDLERS = {
    "department.record.submitted": on_department_record,
    "confirmation.accepted": on_confirmation_accepted,
    "confirmation.revoked": on_confirmation_revoked,
}
CONSUMED_TOPICS = ["department-records", "confirmations"]
