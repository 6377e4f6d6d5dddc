"""Unit tests of the money path on confirmation's side, with fakes: the policy's
deadline, reminders, notifications, saved and sealed accounts, changes of mind,
payment stages and executed reductions."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from confirmation import service
from confirmation.notify import DeliveryPolicy, deliver
from confirmation.service import AccountChoice, ConfirmationStatus, EntitlementStatus
from mianshen_shared import testing
from mianshen_shared.events.catalog import (
    ConfirmationAccepted,
    ConfirmationRequested,
    ConfirmationRevoked,
    EntitlementDetermined,
    PaymentStage,
)
from mianshen_shared.problems import ProblemError

from .factories import (
    SEALER,
    bank_account,
    benefit_executed,
    credit_assessed,
    determination,
    payment_issued,
    payment_progressed,
)
from .fakes import FakeConfirmationRepository, RecordingEmitter

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 25, 2, tzinfo=UTC)  # 10:00 in Shanghai, 2026-11-25


class World:
    def __init__(self) -> None:
        self.repo = FakeConfirmationRepository()
        self.emit = RecordingEmitter()
        self.uscc = testing.make_uscc()

    async def open(self, **kwargs: object) -> tuple[EntitlementDetermined, ConfirmationRequested]:
        d = determination(self.uscc, **kwargs)  # type: ignore[arg-type]
        await service.apply_determination(self.repo, determination=d, now=NOW, emit=self.emit)
        return d, self.emit.of_type(ConfirmationRequested)[-1]  # type: ignore[return-value]

    async def accept(
        self,
        request: ConfirmationRequested,
        account: AccountChoice | None = None,
        *,
        uscc: str | None = None,
        now: datetime = NOW,
    ) -> service.ConfirmationView:
        return await service.accept(
            self.repo,
            uscc=uscc or self.uscc,
            confirmation_id=request.confirmation_id,
            account=account if account is not None else AccountChoice(new=bank_account()),
            sealer=SEALER,
            now=now,
            emit=self.emit,
        )

    async def decline(self, request: ConfirmationRequested, *, now: datetime = NOW) -> service.ConfirmationView:
        return await service.decline(
            self.repo,
            uscc=self.uscc,
            confirmation_id=request.confirmation_id,
            reason="改变主意",
            now=now,
            emit=self.emit,
        )

    def entitlement(self, d: EntitlementDetermined) -> object:
        return self.repo.entitlements[d.entitlement_id]

    def status(self, d: EntitlementDetermined) -> str:
        return self.repo.entitlements[d.entitlement_id].status

    def messages(self, kind: str) -> list[str]:
        return [n.message for n in self.repo.notifications if n.kind == kind]


@pytest.fixture
def world() -> World:
    return World()


# --- deadline and notifications --------------------------------------------------------


async def test_the_policy_sets_the_deadline_and_the_enterprise_is_told_in_chinese(world: World) -> None:
    _, request = await world.open(confirmation_days=10, amount_fen=50_000_000)
    assert request.deadline == date(2026, 12, 5)
    [message] = world.messages("confirmation_requested")
    assert message == (
        "您有一笔惠企政策资金待确认：《郑州市专精特新中小企业奖励》，金额500,000.00元，请于2026年12月5日前确认"
    )


async def test_without_a_policy_window_the_deadline_is_thirty_days(world: World) -> None:
    _, request = await world.open()
    assert request.deadline == date(2026, 12, 25)


async def test_a_withdrawn_entitlement_closes_its_request_and_tells_the_enterprise_why(world: World) -> None:
    d, _ = await world.open()
    withdrawal = determination(world.uscc, entitlement_id=d.entitlement_id, change="withdrawn")
    await service.apply_determination(world.repo, determination=withdrawal, now=NOW, emit=world.emit)
    [message] = world.messages("entitlement_withdrawn")
    assert "已不符合《郑州市专精特新中小企业奖励》兑现条件" in message


async def test_an_expired_request_is_told_to_the_enterprise(world: World) -> None:
    await world.open(confirmation_days=5)
    assert await service.expire_overdue(world.repo, now=NOW + timedelta(days=6), emit=world.emit) == 1
    [message] = world.messages("confirmation_expired")
    assert "2026年11月30日" in message


# --- reminders ---------------------------------------------------------------------------


async def test_reminders_go_out_seven_days_and_one_day_before_the_deadline_once_each(world: World) -> None:
    await world.open(confirmation_days=30)  # deadline 2026-12-25
    sends = []
    for day in range(31):
        at = NOW + timedelta(days=day)
        sends.append(await service.send_reminders(world.repo, now=at, days_before=[7, 1]))
        sends[-1] += await service.send_reminders(world.repo, now=at, days_before=[7, 1])  # a second replica
    assert sum(sends) == 2
    assert [i for i, n in enumerate(sends) if n] == [23, 29]  # 12-18 and 12-24
    first, last = world.messages("confirmation_reminder")
    assert "距确认期限还有7天" in first and "距确认期限还有1天" in last
    assert "请于2026年12月25日前确认" in last


async def test_a_sweep_that_missed_a_lead_time_sends_only_the_nearest_reminder(world: World) -> None:
    await world.open(confirmation_days=30)
    assert await service.send_reminders(world.repo, now=NOW + timedelta(days=29), days_before=[7, 1]) == 1
    assert await service.send_reminders(world.repo, now=NOW + timedelta(days=29), days_before=[7, 1]) == 0
    assert len(world.messages("confirmation_reminder")) == 1


async def test_a_window_shorter_than_a_lead_time_skips_that_reminder(world: World) -> None:
    await world.open(confirmation_days=5)
    sent = [await service.send_reminders(world.repo, now=NOW + timedelta(days=d), days_before=[7, 1]) for d in range(6)]
    assert sent == [0, 0, 0, 0, 1, 0]


async def test_answered_requests_are_not_reminded(world: World) -> None:
    _, request = await world.open(confirmation_days=5)
    await world.accept(request)
    assert await service.send_reminders(world.repo, now=NOW + timedelta(days=4), days_before=[7, 1]) == 0


# --- accounts ----------------------------------------------------------------------------


async def test_a_new_account_is_saved_sealed_and_masked_and_entered_again_it_is_reused(world: World) -> None:
    _, first = await world.open()
    _, second = await world.open()
    await world.accept(first)
    await world.accept(second)
    [saved] = world.repo.accounts.values()
    assert saved.account_number_masked == "6222***********4567"
    assert saved.account_number_sealed.startswith("v1.dev.")
    assert "6222020200001234567" not in saved.account_number_sealed
    confirmation = world.repo.confirmations[first.confirmation_id]
    assert confirmation.bank_account_id == saved.account_id
    assert "6222020200001234567" not in json.dumps([n.message for n in world.repo.notifications])
    assert all("6222020200001234567" not in e.note for e in world.repo.history)


async def test_a_saved_account_can_be_chosen_but_not_another_enterprises(world: World) -> None:
    _, first = await world.open()
    await world.accept(first)
    [saved] = world.repo.accounts.values()
    _, second = await world.open()
    view = await world.accept(second, AccountChoice(saved_id=saved.account_id))
    assert view.confirmation.account_number_masked == saved.account_number_masked

    stranger = World()
    stranger.repo, stranger.emit = world.repo, world.emit
    _, theirs = await stranger.open()
    with pytest.raises(ProblemError) as err:
        await stranger.accept(theirs, AccountChoice(saved_id=saved.account_id))
    assert (err.value.status, err.value.code) == (404, "bank_account_not_found")


async def test_a_cash_benefit_needs_an_account_and_a_reduction_refuses_one(world: World) -> None:
    _, cash = await world.open()
    with pytest.raises(ProblemError) as err:
        await world.accept(cash, AccountChoice())
    assert (err.value.status, err.value.code) == (422, "bank_account_required")
    _, reduction = await world.open(benefit_kind="rent_reduction")
    with pytest.raises(ProblemError) as err:
        await world.accept(reduction, AccountChoice(new=bank_account()))
    assert (err.value.status, err.value.code) == (422, "bank_account_not_applicable")


async def test_a_reduction_is_accepted_without_an_account_and_executed_by_its_executing_party(world: World) -> None:
    d, request = await world.open(benefit_kind="rent_reduction", amount_fen=1_200_000)
    await world.accept(request, AccountChoice())
    [accepted] = world.emit.of_type(ConfirmationAccepted)
    assert isinstance(accepted, ConfirmationAccepted)
    assert (accepted.bank_account, accepted.benefit_kind) == (None, "rent_reduction")
    assessment = credit_assessed(world.uscc, d.entitlement_id, acceptance_id=accepted.acceptance_id)
    await service.apply_credit_assessment(world.repo, assessment=assessment, now=NOW)
    assert world.status(d) == EntitlementStatus.AWAITING_EXECUTION
    await service.apply_benefit_executed(world.repo, executed=benefit_executed(world.uscc, d.entitlement_id), now=NOW)
    assert world.status(d) == EntitlementStatus.EXECUTED
    assert EntitlementStatus.EXECUTED.text == "已办理减免"
    assert "GZW-2026-0001" in world.messages("benefit_executed")[0]
    with pytest.raises(ProblemError) as err:
        await world.decline(request)
    assert err.value.code == "payment_already_submitted"


# --- changes of mind -------------------------------------------------------------------------


async def test_an_acceptance_can_be_revoked_and_given_again_with_a_new_acceptance_id(world: World) -> None:
    d, request = await world.open()
    await world.accept(request)
    view = await world.decline(request)
    assert view.status is ConfirmationStatus.DECLINED and world.status(d) == EntitlementStatus.DECLINED
    [revoked] = world.emit.of_type(ConfirmationRevoked)
    first, *_ = world.emit.of_type(ConfirmationAccepted)
    assert isinstance(revoked, ConfirmationRevoked) and isinstance(first, ConfirmationAccepted)
    assert revoked.acceptance_id == first.acceptance_id
    assert world.messages("confirmation_revoked")

    await world.accept(request, now=NOW + timedelta(days=1))
    again = world.emit.of_type(ConfirmationAccepted)[-1]
    assert isinstance(again, ConfirmationAccepted)
    assert again.acceptance_id != first.acceptance_id
    assert world.status(d) == EntitlementStatus.ACCEPTED


async def test_an_assessment_of_a_revoked_acceptance_is_ignored(world: World) -> None:
    d, request = await world.open()
    await world.accept(request)
    old = world.repo.acceptance_of(d.entitlement_id)
    await world.decline(request)
    await world.accept(request)
    held = credit_assessed(world.uscc, d.entitlement_id, acceptance_id=old, decision="held")
    await service.apply_credit_assessment(world.repo, assessment=held, now=NOW)
    assert world.status(d) == EntitlementStatus.ACCEPTED


async def test_once_the_payment_is_submitted_neither_revocation_nor_reacceptance_is_allowed(world: World) -> None:
    d, request = await world.open()
    await world.accept(request)
    await service.apply_payment_progressed(
        world.repo, progressed=payment_progressed(world.uscc, d.entitlement_id, "submitted"), now=NOW
    )
    with pytest.raises(ProblemError) as err:
        await world.decline(request)
    assert (err.value.status, err.value.code) == (409, "payment_already_submitted")
    assert "已提交财政" in err.value.detail
    assert world.emit.of_type(ConfirmationRevoked) == []


async def test_a_revocation_that_lost_the_race_with_submission_ends_paid_with_an_explanation(world: World) -> None:
    d, request = await world.open()
    await world.accept(request)
    await world.decline(request)  # payment had already submitted, but confirmation had not heard yet
    await service.apply_payment_progressed(
        world.repo, progressed=payment_progressed(world.uscc, d.entitlement_id, "submitted"), now=NOW
    )
    with pytest.raises(ProblemError) as err:
        await world.accept(request)
    assert err.value.code == "payment_already_submitted"
    await service.apply_payment_issued(world.repo, payment=payment_issued(world.uscc, d.entitlement_id), now=NOW)
    assert world.status(d) == EntitlementStatus.PAID
    paid = world.repo.history[-1]
    assert paid.kind == "paid" and "撤回" in paid.note and paid.details["revoked_after_submission"] is True
    assert world.messages("paid")


# --- payment stages ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "extra", "status", "text"),
    [
        ("in_notice", {"until": date(2026, 12, 3)}, "in_notice", "公示中（至12月3日）"),
        ("objected", {}, "notice_objected", "公示异议处理中"),
        ("pending", {}, "awaiting_payment", "待拨付"),
        ("credit_held", {"reason": "记录 credit-77"}, "credit_held", "因失信记录暂缓拨付（记录 credit-77）"),
        ("budget_exhausted", {}, "budget_exhausted", "预算额度不足，待追加预算"),
        ("submitted", {}, "submitted", "已提交财政"),
        ("withdrawn", {}, "withdrawn", "异议成立，资格撤回"),
    ],
)
async def test_each_payment_stage_shows_the_enterprise_a_status_in_chinese(
    world: World, stage: PaymentStage, extra: dict[str, object], status: str, text: str
) -> None:
    d, request = await world.open()
    await world.accept(request)
    progressed = payment_progressed(world.uscc, d.entitlement_id, stage, **extra)  # type: ignore[arg-type]
    await service.apply_payment_progressed(world.repo, progressed=progressed, now=NOW)
    entitlement = world.repo.entitlements[d.entitlement_id]
    assert (entitlement.status, service.status_text(entitlement)) == (status, text)
    assert text in world.messages("payment_progressed")[-1]


async def test_a_cancellation_after_revocation_shows_withdrawn_by_the_enterprise(world: World) -> None:
    d, request = await world.open()
    await world.accept(request)
    await world.decline(request)
    cancelled = payment_progressed(world.uscc, d.entitlement_id, "cancelled")
    await service.apply_payment_progressed(world.repo, progressed=cancelled, now=NOW)
    entitlement = world.repo.entitlements[d.entitlement_id]
    assert (entitlement.status, service.status_text(entitlement)) == ("cancelled", "已撤回")
    await world.accept(request)
    assert world.status(d) == EntitlementStatus.ACCEPTED
    assert service.status_text(world.repo.entitlements[d.entitlement_id]) == "已确认，信用核查中"


async def test_a_stage_after_the_payment_does_not_move_the_status(world: World) -> None:
    d, request = await world.open()
    await world.accept(request)
    await service.apply_payment_issued(world.repo, payment=payment_issued(world.uscc, d.entitlement_id), now=NOW)
    late = payment_progressed(world.uscc, d.entitlement_id, "pending")
    await service.apply_payment_progressed(world.repo, progressed=late, now=NOW)
    assert world.status(d) == EntitlementStatus.PAID


# --- delivery to the front ends -----------------------------------------------------------------

POLICY = DeliveryPolicy(
    front_ends={"qinqing": "http://qq.test/qinqing", "zhenghaoban": "http://zhb.test/zhenghaoban"},
    secret="s3cret",
    max_attempts=3,
    retry_base_seconds=2,
)


async def a_notification(world: World) -> object:
    await world.open()
    return world.repo.notifications[-1]


def front_ends(answers: dict[str, list[int]], seen: list[httpx.Request]) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        queue = answers[request.url.host]
        return httpx.Response(queue.pop(0) if queue else 201)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


async def test_a_notification_goes_to_both_front_ends_signed_with_its_id_as_idempotency_key(world: World) -> None:
    notification = await a_notification(world)
    seen: list[httpx.Request] = []
    async with front_ends({"qq.test": [], "zhb.test": []}, seen) as client:
        await deliver(notification, client=client, policy=POLICY, now=NOW)  # type: ignore[arg-type]
    assert notification.status == "delivered"  # type: ignore[attr-defined]
    assert [r.url.path for r in seen] == ["/qinqing/api/v1/notifications", "/zhenghaoban/api/v1/notifications"]
    for request in seen:
        expected = "sha256=" + hmac.new(b"s3cret", request.content, hashlib.sha256).hexdigest()
        assert request.headers["X-Signature"] == expected
        assert request.headers["Idempotency-Key"] == str(notification.notification_id)  # type: ignore[attr-defined]
        assert json.loads(request.content)["message"].startswith("您有一笔惠企政策资金待确认")


async def test_a_busy_front_end_is_retried_with_growing_waits_and_only_it(world: World) -> None:
    notification = await a_notification(world)
    seen: list[httpx.Request] = []
    async with front_ends({"qq.test": [], "zhb.test": [503, 429]}, seen) as client:
        await deliver(notification, client=client, policy=POLICY, now=NOW)  # type: ignore[arg-type]
        first_wait = notification.next_attempt_at - NOW  # type: ignore[attr-defined]
        await deliver(notification, client=client, policy=POLICY, now=NOW)  # type: ignore[arg-type]
        second_wait = notification.next_attempt_at - NOW  # type: ignore[attr-defined]
        await deliver(notification, client=client, policy=POLICY, now=NOW)  # type: ignore[arg-type]
    assert (first_wait, second_wait) == (timedelta(seconds=2), timedelta(seconds=4))
    assert notification.status == "delivered"  # type: ignore[attr-defined]
    assert [r.url.host for r in seen].count("qq.test") == 1


async def test_delivery_gives_up_after_the_last_attempt_and_at_once_on_a_refusal(world: World) -> None:
    busy, refused = await a_notification(world), await a_notification(world)
    seen: list[httpx.Request] = []
    async with front_ends({"qq.test": [503] * 3, "zhb.test": []}, seen) as client:
        for _ in range(3):
            await deliver(busy, client=client, policy=POLICY, now=NOW)  # type: ignore[arg-type]
    assert (busy.status, busy.attempts) == ("failed", 3)  # type: ignore[attr-defined]
    assert "qinqing: HTTP 503" in busy.last_error  # type: ignore[attr-defined]
    async with front_ends({"qq.test": [401], "zhb.test": []}, seen) as client:
        await deliver(refused, client=client, policy=POLICY, now=NOW)  # type: ignore[arg-type]
    assert (refused.status, refused.attempts) == ("failed", 1)  # type: ignore[attr-defined]


async def test_an_unreachable_front_end_is_retried(world: World) -> None:
    notification = await a_notification(world)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        await deliver(notification, client=client, policy=POLICY, now=NOW)  # type: ignore[arg-type]
    assert (notification.status, notification.attempts) == ("pending", 1)  # type: ignore[attr-defined]
    assert "ConnectError" in notification.last_error  # type: ignore[attr-defined]
