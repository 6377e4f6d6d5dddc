"""失信惩戒 at submission — a replica of every enterprise's credit standing.

credit-check assesses an entitlement once, when it is accepted; money leaves
much later (after 公示, maybe after waiting for budget). So before a payment is
submitted for the first time it is checked again, against the latest
CreditStandingChanged of its enterprise. A record counts on a day when
`effective_date <= day` and (`expires_on` is None or `day < expires_on`), the
convention of credit-check's `active_records`: the expiry day itself is free.
The check is repeated each time a held payment is due, so a record that expires
or is removed releases it without anyone's action.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from mianshen_shared.events.catalog import CreditRecordRef, CreditStandingChanged
from mianshen_shared.messaging import UnitOfWork
from payment.models import CreditStanding
from payment.money_repository import CreditReplicaRepository


def in_force(record: CreditRecordRef, day: date) -> bool:
    return record.effective_date <= day and (record.expires_on is None or day < record.expires_on)


def black_records_in_force(standing: CreditStanding | None, day: date) -> list[CreditRecordRef]:
    if standing is None:
        return []
    records = [CreditRecordRef.model_validate(r) for r in standing.black_records]
    return [r for r in records if in_force(r, day)]


def hold_text(records: list[CreditRecordRef]) -> str:
    listed = "、".join(f"{r.list_type}（{r.record_id}）" for r in records)
    return f"提交支付前信用复核：企业存在有效的失信记录，暂缓兑现：{listed}；记录失效或移除后自动恢复"


async def record_standing(repo: CreditReplicaRepository, *, changed: CreditStandingChanged, now: datetime) -> bool:
    """Keep the newest standing per enterprise; an older one arriving late is ignored.
    Returns whether the replica changed."""
    existing = await repo.get(changed.uscc)
    black: list[dict[str, Any]] = [r.model_dump(mode="json") for r in changed.black_records]
    red: list[dict[str, Any]] = [r.model_dump(mode="json") for r in changed.red_records]
    if existing is None:
        await repo.add(
            CreditStanding(
                uscc=changed.uscc, black_records=black, red_records=red, changed_at=changed.changed_at, received_at=now
            )
        )
    elif changed.changed_at > existing.changed_at:
        existing.black_records = black
        existing.red_records = red
        existing.changed_at = changed.changed_at
        existing.received_at = now
    else:
        return False
    # Held payments of the enterprise are looked at again at once, not at their next recheck.
    await repo.wake_held(changed.uscc, now)
    return True


async def on_credit_standing_changed(event: CreditStandingChanged, uow: UnitOfWork) -> None:
    await record_standing(CreditReplicaRepository(uow.session), changed=event, now=datetime.now(UTC))
