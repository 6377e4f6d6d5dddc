"""The credit gate at submission: a black record in force on the day holds a payment
before its first submission; the hold is re-checked until the record lapses."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from mianshen_shared.events.catalog import CreditStandingChanged, PaymentProgressed
from payment import credit, service
from payment.models import CreditStanding

from .fakes import Emitted, FakePaymentRepository
from .money_support import ACCOUNT_NUMBER, NOW, POLICY_ID, FakeMoney, black_record, payment

pytestmark = pytest.mark.unit
POLICY = service.RetryPolicy(credit_recheck_seconds=60)
BUDGET_CODE = "410100-HQZC-001"


def funded(money: FakeMoney, fen: int = 10_000_000) -> FakeMoney:
    money.budgets[(POLICY_ID, 2026)] = [fen, 0, 0]
    return money


async def claim(repo: FakePaymentRepository, money: FakeMoney, emitted: Emitted, now: datetime) -> list[service.Step]:
    return await service.claim(
        repo, now=now, limit=10, policy=POLICY, payer_budget_code=BUDGET_CODE, money=money, emit=emitted
    )


def stages(emitted: Emitted) -> list[str]:
    return [e.stage for e in emitted.of_type(PaymentProgressed)]


async def test_a_black_record_in_force_holds_the_payment_before_its_first_submission() -> None:
    repo, emitted = FakePaymentRepository(), Emitted()
    p = payment()
    await repo.add(p)
    money = funded(FakeMoney(black={p.uscc: [black_record()]}))

    assert await claim(repo, money, emitted, NOW) == []
    assert (p.status, p.stage, p.attempts) == ("pending", "credit_held", 0)
    assert [r["record_id"] for r in p.hold_reasons] == ["credit-77"]
    assert "失信" in (p.stage_reason or "")
    assert stages(emitted) == ["credit_held"]
    assert money.budgets[(POLICY_ID, 2026)][1] == 0, "nothing reserved for a held payment"


async def test_a_held_payment_is_announced_once_however_often_it_is_rechecked() -> None:
    repo, emitted = FakePaymentRepository(), Emitted()
    p = payment()
    await repo.add(p)
    money = funded(FakeMoney(black={p.uscc: [black_record()]}))
    await claim(repo, money, emitted, NOW)
    assert p.next_attempt_at == NOW + timedelta(seconds=60)
    await claim(repo, money, emitted, NOW + timedelta(seconds=61))
    await claim(repo, money, emitted, NOW + timedelta(seconds=122))
    assert stages(emitted) == ["credit_held"]


async def test_a_record_that_expires_releases_the_payment_without_anyone_acting() -> None:
    repo, emitted = FakePaymentRepository(), Emitted()
    p = payment()
    await repo.add(p)
    # NOW is 2026-11-25 in Beijing; the record's last day in force is the 25th.
    money = funded(FakeMoney(black={p.uscc: [black_record(expires=date(2026, 11, 26))]}))
    assert await claim(repo, money, emitted, NOW) == []

    next_day = NOW + timedelta(days=1)
    [step] = await claim(repo, money, emitted, next_day)
    assert step.action == "submit"
    assert (p.status, p.stage, p.hold_reasons) == ("submitted", "submitted", [])
    assert stages(emitted) == ["credit_held", "pending", "submitted"]


async def test_a_record_listed_after_the_first_submission_does_not_stop_a_retry() -> None:
    repo, emitted = FakePaymentRepository(), Emitted()
    p = payment()
    p.attempts, p.budget_state, p.budget_year, p.payer_budget_code = 1, "reserved", 2026, BUDGET_CODE
    await repo.add(p)
    money = FakeMoney(black={p.uscc: [black_record()]})
    [step] = await claim(repo, money, emitted, NOW)
    assert step.action == "submit"


async def test_only_the_finance_instruction_carries_the_opened_account_number() -> None:
    repo, emitted = FakePaymentRepository(), Emitted()
    p = payment()
    await repo.add(p)
    [step] = await claim(repo, funded(FakeMoney()), emitted, NOW)
    assert step.instruction.payee_account_number == ACCOUNT_NUMBER
    assert ACCOUNT_NUMBER not in (p.payee_account_sealed or "")
    assert p.payee_account_masked == "6222***********4567"


@pytest.mark.parametrize(
    ("effective", "expires", "day", "counts"),
    [
        (date(2026, 1, 1), None, date(2026, 11, 25), True),
        (date(2026, 11, 25), None, date(2026, 11, 25), True),
        (date(2026, 11, 26), None, date(2026, 11, 25), False),
        (date(2026, 1, 1), date(2026, 11, 26), date(2026, 11, 25), True),
        (date(2026, 1, 1), date(2026, 11, 25), date(2026, 11, 25), False),
    ],
)
def test_a_record_counts_from_its_effective_date_until_the_day_before_it_expires(
    effective: date, expires: date | None, day: date, counts: bool
) -> None:
    assert credit.in_force(black_record(effective=effective, expires=expires), day) is counts


class FakeReplica:
    def __init__(self) -> None:
        self.rows: dict[str, CreditStanding] = {}
        self.woken: list[str] = []

    async def get(self, uscc: str) -> CreditStanding | None:
        return self.rows.get(uscc)

    async def add(self, standing: CreditStanding) -> None:
        self.rows[standing.uscc] = standing

    async def wake_held(self, uscc: str, now: datetime) -> int:
        self.woken.append(uscc)
        return 0


def standing(uscc: str, at: datetime, *, listed: bool) -> CreditStandingChanged:
    return CreditStandingChanged(uscc=uscc, black_records=[black_record()] if listed else [], changed_at=at)


async def test_the_replica_keeps_the_latest_standing_and_ignores_one_that_arrives_late() -> None:
    replica = FakeReplica()
    uscc = payment().uscc
    assert await credit.record_standing(replica, changed=standing(uscc, NOW, listed=True), now=NOW)  # type: ignore[arg-type]
    later = NOW + timedelta(hours=1)
    assert await credit.record_standing(replica, changed=standing(uscc, later, listed=False), now=later)  # type: ignore[arg-type]
    stale = standing(uscc, NOW + timedelta(minutes=5), listed=True)
    assert not await credit.record_standing(replica, changed=stale, now=later)  # type: ignore[arg-type]
    assert credit.black_records_in_force(replica.rows[uscc], date(2026, 11, 25)) == []
    assert replica.woken == [uscc, uscc], "a change makes the enterprise's held payments due at once"
