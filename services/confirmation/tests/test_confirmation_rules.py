"""Unit tests of the status transitions and the accept/decline rules, with fakes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from confirmation import service
from confirmation.service import ConfirmationStatus, EntitlementStatus
from mianshen_shared import testing
from mianshen_shared.events.catalog import (
    ConfirmationAccepted,
    ConfirmationClosed,
    ConfirmationDeclined,
    ConfirmationRequested,
    EntitlementDetermined,
)
from mianshen_shared.messaging import Rejected
from mianshen_shared.problems import ProblemError

from .factories import SEALER, credit_assessed, determination, new_account, payment_failed, payment_issued
from .fakes import FakeConfirmationRepository, RecordingEmitter

pytestmark = pytest.mark.unit
# 17:00 UTC is already the next day in Shanghai.
NOW = datetime(2026, 11, 25, 17, tzinfo=UTC)


class World:
    def __init__(self) -> None:
        self.repo = FakeConfirmationRepository()
        self.emit = RecordingEmitter()
        self.uscc = testing.make_uscc()

    async def determine(self, d: EntitlementDetermined, *, now: datetime = NOW) -> None:
        await service.apply_determination(self.repo, determination=d, now=now, emit=self.emit)

    async def open(self, **kwargs: object) -> tuple[EntitlementDetermined, ConfirmationRequested]:
        d = determination(self.uscc, **kwargs)  # type: ignore[arg-type]
        await self.determine(d)
        return d, self.requests()[-1]

    async def accept(
        self, request: ConfirmationRequested, *, account: str = "6222020200001234567", now: datetime = NOW
    ) -> service.ConfirmationView:
        return await service.accept(
            self.repo,
            uscc=self.uscc,
            confirmation_id=request.confirmation_id,
            **new_account(account),
            now=now,
            emit=self.emit,
        )

    async def decline(self, request: ConfirmationRequested) -> service.ConfirmationView:
        return await service.decline(
            self.repo,
            uscc=self.uscc,
            confirmation_id=request.confirmation_id,
            reason="已享受同类扶持，自愿放弃",
            now=NOW,
            emit=self.emit,
        )

    def requests(self) -> list[ConfirmationRequested]:
        return self.emit.of_type(ConfirmationRequested)  # type: ignore[return-value]

    def status(self, d: EntitlementDetermined) -> str:
        return self.repo.entitlements[d.entitlement_id].status


@pytest.fixture
def world() -> World:
    return World()


# --- determinations ---------------------------------------------------------------


async def test_new_entitlement_asks_the_enterprise_within_thirty_shanghai_days(world: World) -> None:
    d, request = await world.open(amount_fen=30_000_000)
    assert (request.entitlement_id, request.amount_fen, request.uscc) == (d.entitlement_id, 30_000_000, world.uscc)
    assert request.deadline == date(2026, 11, 26) + timedelta(days=30)
    assert world.emit.emitted[0][1] == world.uscc, "events are keyed by the enterprise"
    assert world.status(d) == EntitlementStatus.AWAITING_CONFIRMATION


async def test_the_same_determination_twice_asks_only_once(world: World) -> None:
    d, _ = await world.open()
    await world.determine(d.model_copy())
    assert len(world.requests()) == 1
    assert world.repo.kinds(d.entitlement_id) == ["determined", "confirmation_requested"]


async def test_changed_amount_while_pending_asks_again_with_the_new_amount(world: World) -> None:
    d, first = await world.open(amount_fen=30_000_000)
    changed = determination(
        world.uscc,
        entitlement_id=d.entitlement_id,
        change="changed",
        amount_fen=50_000_000,
        previous_amount_fen=30_000_000,
    )
    await world.determine(changed)
    again = world.requests()[-1]
    assert len(world.requests()) == 2
    assert (again.confirmation_id, again.amount_fen) == (first.confirmation_id, 50_000_000)
    assert world.repo.confirmations[first.confirmation_id].status == ConfirmationStatus.PENDING


async def test_changed_amount_after_acceptance_is_only_recorded(world: World) -> None:
    d, request = await world.open(amount_fen=30_000_000)
    await world.accept(request)
    before = len(world.emit.emitted)
    await world.determine(
        determination(world.uscc, entitlement_id=d.entitlement_id, change="changed", amount_fen=50_000_000)
    )
    assert len(world.emit.emitted) == before
    assert world.status(d) == EntitlementStatus.ACCEPTED
    assert world.repo.confirmations[request.confirmation_id].amount_fen == 30_000_000
    last = world.repo.history[-1]
    assert last.kind == "changed_after_answer"
    assert last.details == {
        "previous_amount_fen": 30_000_000,
        "amount_fen": 50_000_000,
        "confirmed_amount_fen": 30_000_000,
    }


async def test_withdrawal_closes_a_pending_request_with_its_reason(world: World) -> None:
    d, request = await world.open()
    await world.determine(determination(world.uscc, entitlement_id=d.entitlement_id, change="withdrawn"))
    [closed] = world.emit.of_type(ConfirmationClosed)
    assert closed.confirmation_id == request.confirmation_id
    assert "不符合" in closed.reason
    assert world.status(d) == EntitlementStatus.WITHDRAWN
    assert world.repo.confirmations[request.confirmation_id].status == ConfirmationStatus.CLOSED


async def test_withdrawing_twice_closes_once(world: World) -> None:
    d, _ = await world.open()
    withdrawal = determination(world.uscc, entitlement_id=d.entitlement_id, change="withdrawn")
    await world.determine(withdrawal)
    await world.determine(withdrawal.model_copy())
    assert len(world.emit.of_type(ConfirmationClosed)) == 1


async def test_withdrawal_of_an_unknown_entitlement_is_rejected(world: World) -> None:
    with pytest.raises(Rejected) as err:
        await world.determine(determination(world.uscc, change="withdrawn"))
    assert err.value.reason == "unknown_entitlement"


async def test_redetermination_after_withdrawal_asks_again(world: World) -> None:
    d, request = await world.open()
    await world.determine(determination(world.uscc, entitlement_id=d.entitlement_id, change="withdrawn"))
    await world.determine(determination(world.uscc, entitlement_id=d.entitlement_id, change="changed"))
    assert len(world.requests()) == 2
    assert world.repo.confirmations[request.confirmation_id].status == ConfirmationStatus.PENDING
    assert world.status(d) == EntitlementStatus.AWAITING_CONFIRMATION


async def test_determination_naming_another_enterprise_is_rejected(world: World) -> None:
    d, _ = await world.open()
    stranger = determination(testing.make_uscc(), entitlement_id=d.entitlement_id, change="changed")
    with pytest.raises(Rejected) as err:
        await world.determine(stranger)
    assert err.value.reason == "uscc_mismatch"


# --- the enterprise's answers ---------------------------------------------------------


async def test_acceptance_carries_amount_policy_version_and_the_sealed_bank_account(world: World) -> None:
    d, request = await world.open(amount_fen=30_000_000, policy_version=2)
    view = await world.accept(request, account="6222020200001234567")
    [accepted] = world.emit.of_type(ConfirmationAccepted)
    assert isinstance(accepted, ConfirmationAccepted)
    assert (accepted.amount_fen, accepted.policy_version) == (30_000_000, 2)
    assert accepted.bank_account is not None
    assert accepted.bank_account.account_number_masked == "6222***********4567"
    assert SEALER.open(accepted.bank_account.account_number_sealed) == "6222020200001234567"
    assert "6222020200001234567" not in accepted.model_dump_json()
    assert view.status is ConfirmationStatus.ACCEPTED
    assert world.status(d) == EntitlementStatus.ACCEPTED
    assert "6222020200001234567" not in world.repo.history[-1].note


async def test_accepting_twice_with_the_same_account_emits_once(world: World) -> None:
    _, request = await world.open()
    await world.accept(request)
    again = await world.accept(request)
    assert again.status is ConfirmationStatus.ACCEPTED
    assert len(world.emit.of_type(ConfirmationAccepted)) == 1


async def test_accepting_again_with_another_account_conflicts(world: World) -> None:
    _, request = await world.open()
    await world.accept(request)
    with pytest.raises(ProblemError) as err:
        await world.accept(request, account="6217000011112222")
    assert (err.value.status, err.value.code) == (409, "confirmation_already_accepted")


async def test_a_declined_request_cannot_be_accepted_after_its_deadline(world: World) -> None:
    _, request = await world.open()
    await world.decline(request)
    with pytest.raises(ProblemError) as err:
        await world.accept(request, now=NOW + timedelta(days=31))
    assert (err.value.status, err.value.code) == (409, "confirmation_not_pending")


async def test_closed_request_cannot_be_declined(world: World) -> None:
    d, request = await world.open()
    await world.determine(determination(world.uscc, entitlement_id=d.entitlement_id, change="withdrawn"))
    with pytest.raises(ProblemError) as err:
        await world.decline(request)
    assert err.value.code == "confirmation_not_pending"


async def test_request_past_its_deadline_cannot_be_accepted_and_is_listed_as_expired(world: World) -> None:
    _, request = await world.open()
    late = NOW + timedelta(days=31)
    with pytest.raises(ProblemError) as err:
        await world.accept(request, now=late)
    assert err.value.code == "confirmation_not_pending"
    assert (
        await service.list_confirmations(world.repo, uscc=world.uscc, status=ConfirmationStatus.PENDING, now=late) == []
    )
    [expired] = await service.list_confirmations(
        world.repo, uscc=world.uscc, status=ConfirmationStatus.EXPIRED, now=late
    )
    assert expired.confirmation.confirmation_id == request.confirmation_id


async def test_request_can_still_be_accepted_on_its_deadline_day(world: World) -> None:
    _, request = await world.open()
    last_day = datetime(2026, 12, 26, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai
    assert (await world.accept(request, now=last_day)).status is ConfirmationStatus.ACCEPTED


async def test_another_enterprises_request_is_not_found(world: World) -> None:
    _, request = await world.open()
    with pytest.raises(ProblemError) as err:
        await service.accept(
            world.repo,
            uscc=testing.make_uscc(),
            confirmation_id=request.confirmation_id,
            **new_account(),
            now=NOW,
            emit=world.emit,
        )
    assert (err.value.status, err.value.code) == (404, "confirmation_not_found")
    assert world.emit.of_type(ConfirmationAccepted) == []


async def test_declining_records_the_reason_and_emits_once(world: World) -> None:
    d, request = await world.open()
    await world.decline(request)
    await world.decline(request)
    [declined] = world.emit.of_type(ConfirmationDeclined)
    assert declined.reason == "已享受同类扶持，自愿放弃"
    assert world.status(d) == EntitlementStatus.DECLINED


async def test_expiry_sweep_closes_only_overdue_requests(world: World) -> None:
    _, overdue = await world.open()
    later = NOW + timedelta(days=20)
    fresh = determination(world.uscc)
    await world.determine(fresh, now=later)
    assert await service.expire_overdue(world.repo, now=NOW + timedelta(days=31), emit=world.emit) == 1
    [closed] = world.emit.of_type(ConfirmationClosed)
    assert closed.confirmation_id == overdue.confirmation_id
    assert world.repo.confirmations[overdue.confirmation_id].status == ConfirmationStatus.EXPIRED


# --- credit and payment -----------------------------------------------------------------


async def accepted_entitlement(world: World) -> EntitlementDetermined:
    d, request = await world.open()
    await world.accept(request)
    return d


async def test_credit_hold_keeps_the_records_it_rested_on(world: World) -> None:
    d = await accepted_entitlement(world)
    await service.apply_credit_assessment(
        world.repo,
        assessment=credit_assessed(
            world.uscc, d.entitlement_id, acceptance_id=world.repo.acceptance_of(d.entitlement_id), decision="held"
        ),
        now=NOW,
    )
    assert world.status(d) == EntitlementStatus.CREDIT_HELD
    held = world.repo.history[-1]
    assert held.kind == "credit_held"
    assert [r["record_id"] for r in held.details["reasons"]] == ["credit-77"]


async def test_cleared_credit_awaits_payment_and_payment_marks_paid(world: World) -> None:
    d = await accepted_entitlement(world)
    await service.apply_credit_assessment(
        world.repo,
        assessment=credit_assessed(
            world.uscc, d.entitlement_id, acceptance_id=world.repo.acceptance_of(d.entitlement_id)
        ),
        now=NOW,
    )
    assert world.status(d) == EntitlementStatus.AWAITING_PAYMENT
    paid = payment_issued(world.uscc, d.entitlement_id)
    await service.apply_payment_issued(world.repo, payment=paid, now=NOW)
    entitlement = world.repo.entitlements[d.entitlement_id]
    assert (entitlement.status, entitlement.finance_reference, entitlement.payment_id) == (
        EntitlementStatus.PAID,
        paid.finance_reference,
        paid.payment_id,
    )


async def test_late_credit_assessment_does_not_undo_a_payment(world: World) -> None:
    d = await accepted_entitlement(world)
    await service.apply_payment_issued(world.repo, payment=payment_issued(world.uscc, d.entitlement_id), now=NOW)
    await service.apply_credit_assessment(
        world.repo,
        assessment=credit_assessed(
            world.uscc, d.entitlement_id, acceptance_id=world.repo.acceptance_of(d.entitlement_id)
        ),
        now=NOW,
    )
    assert world.status(d) == EntitlementStatus.PAID


async def test_payment_failure_keeps_the_reason(world: World) -> None:
    d = await accepted_entitlement(world)
    await service.apply_payment_failed(world.repo, payment=payment_failed(world.uscc, d.entitlement_id), now=NOW)
    assert world.status(d) == EntitlementStatus.PAYMENT_FAILED
    assert world.repo.history[-1].details["reason"] == "收款账户已销户"


async def test_credit_assessment_before_acceptance_is_rejected(world: World) -> None:
    d, _ = await world.open()
    with pytest.raises(Rejected) as err:
        await service.apply_credit_assessment(
            world.repo,
            assessment=credit_assessed(
                world.uscc, d.entitlement_id, acceptance_id=world.repo.acceptance_of(d.entitlement_id)
            ),
            now=NOW,
        )
    assert err.value.reason == "not_accepted"


async def test_payment_for_an_unknown_entitlement_is_rejected(world: World) -> None:
    d = determination(world.uscc)
    with pytest.raises(Rejected) as err:
        await service.apply_payment_issued(world.repo, payment=payment_issued(world.uscc, d.entitlement_id), now=NOW)
    assert err.value.reason == "unknown_entitlement"


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("6222020200004567", "6222********4567"),
        ("6222020200001234567", "6222***********4567"),
        ("12345678", "****5678"),
    ],
)
def test_account_numbers_show_only_their_ends(number: str, masked: str) -> None:
    assert service.mask_account_number(number) == masked


async def test_acceptance_carries_the_correlation_id_of_the_department_push() -> None:
    world = World()
    d = determination(world.uscc)
    await service.apply_determination(world.repo, determination=d, now=NOW, emit=world.emit, correlation_id="push-42")
    await world.accept(world.requests()[-1])
    accepted_at = next(i for i, (p, _k) in enumerate(world.emit.emitted) if isinstance(p, ConfirmationAccepted))
    assert world.emit.correlation_ids[accepted_at] == "push-42"


def test_every_entitlement_status_has_a_chinese_text_for_the_front_ends() -> None:
    texts = {status: status.text for status in EntitlementStatus}
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in texts.values())
    assert len(set(texts.values())) == len(texts), "two statuses read the same to an enterprise"


async def test_a_rent_reduction_is_confirmed_like_any_benefit_and_follows_redeterminations() -> None:
    world = World()
    d = determination(world.uscc, benefit_kind="rent_reduction", amount_fen=2_700_000)
    await world.determine(d)
    assert len(world.requests()) == 1
    assert world.status(d) == EntitlementStatus.AWAITING_CONFIRMATION
    assert EntitlementStatus.AWAITING_EXECUTION.text == "待实施主体办理减免（无需提供收款账户）"

    changed = determination(
        world.uscc,
        entitlement_id=d.entitlement_id,
        benefit_kind="rent_reduction",
        change="changed",
        amount_fen=3_600_000,
    )
    await world.determine(changed)
    assert [r.amount_fen for r in world.requests()] == [2_700_000, 3_600_000]
    assert world.repo.entitlements[d.entitlement_id].amount_fen == 3_600_000
