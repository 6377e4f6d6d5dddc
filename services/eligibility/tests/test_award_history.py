"""Unit tests of the award history: payments become history, settled entitlements are
never changed or withdrawn, and every evaluation is told what was already paid."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from eligibility import service
from eligibility.models import Entitlement
from mianshen_shared import city, rules, testing
from mianshen_shared.events.catalog import DepartmentRecordSubmitted, EntitlementDetermined, Explanation
from mianshen_shared.messaging import Rejected

from .factories import (
    APP_SOLUTION_POLICY,
    MILLION_YUAN_FEN,
    SPECIALIZED_SME_POLICY,
    app_solution_record,
    city_policy,
    payment_for,
    published,
    retired,
    title_record,
)
from .fakes import FakeEligibilityRepository, publish, retire

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 25, 8, tzinfo=UTC)
ZHENGZHOU = city.current()
PROVINCIAL_FEN, GIANT_FEN = 50 * MILLION_YUAN_FEN // 100, 200 * MILLION_YUAN_FEN // 100


async def given(document: dict[str, Any]) -> FakeEligibilityRepository:
    repo = FakeEligibilityRepository()
    await publish(repo, published(document), now=NOW)
    return repo


async def push(repo: FakeEligibilityRepository, *records: DepartmentRecordSubmitted) -> list[EntitlementDetermined]:
    per_record = await service.records_submitted(repo, city=ZHENGZHOU, records=list(records), now=NOW)
    return [event for events in per_record for event in events]


async def pay(repo: FakeEligibilityRepository, entitlement: Any, **changes: Any) -> Any:
    return await service.payment_issued(
        repo, payment=payment_for(entitlement, **changes), event_id=str(uuid.uuid4()), now=NOW
    )


def revoke(record: DepartmentRecordSubmitted) -> DepartmentRecordSubmitted:
    return record.model_copy(update={"action": "revoke", "attributes": {}})


def snapshot(row: Entitlement) -> tuple[Any, ...]:
    return (row.status, row.amount_fen, row.policy_version, row.explanation, row.paid_fen, row.settled_at)


# --- payments become history -----------------------------------------------------------


async def test_a_payment_becomes_history_dated_in_shanghai_and_settles_the_entitlement() -> None:
    repo, uscc = await given(city_policy(SPECIALIZED_SME_POLICY)), testing.make_uscc()
    [determined] = await push(repo, title_record(uscc, "provincial_specialized"))
    late_evening_utc = datetime(2026, 11, 25, 17, 30, tzinfo=UTC)  # already the 26th in 郑州

    award = await pay(repo, determined, issued_at=late_evening_utc)

    assert (award.uscc, award.policy_id, award.award_key, award.amount_fen) == (
        uscc,
        determined.policy_id,
        "once",
        PROVINCIAL_FEN,
    )
    assert (award.paid_on, award.policy_version) == (date(2026, 11, 26), 1)
    row = repo.entitlements[determined.entitlement_id]
    assert (row.paid_fen, row.settled_at) == (PROVINCIAL_FEN, late_evening_utc)


async def test_the_same_payment_told_twice_is_history_once() -> None:
    repo, uscc = await given(city_policy(SPECIALIZED_SME_POLICY)), testing.make_uscc()
    [determined] = await push(repo, title_record(uscc))
    payment = payment_for(determined)
    assert await service.payment_issued(repo, payment=payment, event_id="e-1", now=NOW) is not None
    assert await service.payment_issued(repo, payment=payment, event_id="e-2", now=NOW) is None
    assert [h.payment_event_id for h in repo.history.values()] == ["e-1"]


async def test_another_amount_paid_for_an_entitlement_already_paid_is_refused() -> None:
    repo, uscc = await given(city_policy(SPECIALIZED_SME_POLICY)), testing.make_uscc()
    [determined] = await push(repo, title_record(uscc))
    await pay(repo, determined)
    with pytest.raises(Rejected) as err:
        await pay(repo, determined, amount_fen=GIANT_FEN + 1)
    assert err.value.reason == "conflicting_payment"
    assert "2,000,000.00元" in err.value.message
    assert [h.amount_fen for h in repo.history.values()] == [GIANT_FEN]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"entitlement_id": uuid.uuid4()}, "unknown_entitlement"),
        ({"uscc": testing.make_uscc()}, "entitlement_mismatch"),
        ({"policy_id": "zz-some-other-policy"}, "entitlement_mismatch"),
    ],
)
async def test_a_payment_that_does_not_match_a_determined_entitlement_is_refused(
    changes: dict[str, Any], reason: str
) -> None:
    repo, uscc = await given(city_policy(SPECIALIZED_SME_POLICY)), testing.make_uscc()
    [determined] = await push(repo, title_record(uscc))
    with pytest.raises(Rejected) as err:
        await pay(repo, determined, **changes)
    assert err.value.reason == reason
    assert repo.history == {}
    assert repo.entitlements[determined.entitlement_id].settled_at is None


# --- settled entitlements are history --------------------------------------------------


async def test_revoking_a_record_before_payment_withdraws_the_entitlement_resting_on_it() -> None:
    repo, uscc = await given(city_policy(SPECIALIZED_SME_POLICY)), testing.make_uscc()
    record = title_record(uscc)
    [determined] = await push(repo, record)
    [withdrawn] = await push(repo, revoke(record))
    assert (withdrawn.entitlement_id, withdrawn.change, withdrawn.amount_fen, withdrawn.previous_amount_fen) == (
        determined.entitlement_id,
        "withdrawn",
        0,
        GIANT_FEN,
    )


async def test_revoking_a_record_after_payment_leaves_the_settled_entitlement_alone() -> None:
    repo, uscc = await given(city_policy(SPECIALIZED_SME_POLICY)), testing.make_uscc()
    record = title_record(uscc)
    [determined] = await push(repo, record)
    await pay(repo, determined)
    before = snapshot(repo.entitlements[determined.entitlement_id])

    # Only 回头看's finding is announced: nothing is withdrawn or re-determined.
    assert [type(e).__name__ for e in await push(repo, revoke(record))] == ["EntitlementOverpaid"]
    assert snapshot(repo.entitlements[determined.entitlement_id]) == before
    assert repo.facts[record.record_id].revoked


async def test_a_higher_title_after_the_award_was_paid_awards_nothing_more_under_no_repeat() -> None:
    repo, uscc = await given(city_policy(SPECIALIZED_SME_POLICY)), testing.make_uscc()
    [determined] = await push(repo, title_record(uscc, "provincial_specialized"))
    await pay(repo, determined)
    before = snapshot(repo.entitlements[determined.entitlement_id])

    assert await push(repo, title_record(uscc, "national_little_giant")) == []
    assert list(repo.entitlements) == [determined.entitlement_id]
    assert snapshot(repo.entitlements[determined.entitlement_id]) == before


async def test_a_new_policy_version_never_changes_a_paid_entitlement() -> None:
    document = city_policy(SPECIALIZED_SME_POLICY)
    repo, paid, unpaid = await given(document), testing.make_uscc(), testing.make_uscc()
    [determined] = await push(repo, title_record(paid))
    await push(repo, title_record(unpaid))
    await pay(repo, determined)
    before = snapshot(repo.entitlements[determined.entitlement_id])
    raised = document | {"version": 2}
    raised["award"] = document["award"] | {
        "tiers": [
            {**document["award"]["tiers"][0], "amount_fen": 3 * MILLION_YUAN_FEN},
            *document["award"]["tiers"][1:],
        ]
    }

    events = await publish(repo, published(raised), now=NOW)

    assert [(e.uscc, e.change, e.amount_fen, e.previous_amount_fen) for e in events] == [
        (unpaid, "changed", 3 * MILLION_YUAN_FEN, GIANT_FEN)
    ]
    assert snapshot(repo.entitlements[determined.entitlement_id]) == before


async def test_retiring_a_policy_withdraws_only_what_is_not_paid_yet() -> None:
    document = city_policy(SPECIALIZED_SME_POLICY)
    repo, paid, unpaid = await given(document), testing.make_uscc(), testing.make_uscc()
    [settled] = await push(repo, title_record(paid))
    await push(repo, title_record(unpaid))
    await pay(repo, settled)

    events = await retire(repo, retired(document, reason="政策到期"), now=NOW)

    assert [(e.uscc, e.change, e.previous_amount_fen) for e in events] == [(unpaid, "withdrawn", GIANT_FEN)]
    assert "政策已废止（政策到期）" in events[0].explanation.computation
    assert repo.entitlements[settled.entitlement_id].status == "active"


def test_the_diff_neither_changes_nor_withdraws_nor_renews_a_settled_entitlement() -> None:
    row = Entitlement(
        award_key="once", amount_fen=PROVINCIAL_FEN, status="active", explanation={}, settled_at=NOW, paid_fen=1
    )
    again = rules.Award(award_key="once", amount_fen=GIANT_FEN, explanation=_any_explanation())
    assert service.diff([again], {"once": row}, withdrawal_reason="") == []
    assert service.diff([], {"once": row}, withdrawal_reason="") == []


def _any_explanation() -> Explanation:
    return Explanation(
        policy_id="p",
        policy_version=1,
        legal_basis="《依据》",
        clause="条款",
        rule="规则",
        computation="核定",
        facts=[],
    )


# --- history goes into every evaluation ----------------------------------------------------


async def test_a_top_up_to_the_yearly_cap_is_only_the_difference_to_what_was_paid() -> None:
    repo, uscc = await given(city_policy(APP_SOLUTION_POLICY)), testing.make_uscc()
    await push(repo, app_solution_record(uscc, "智能排产"), app_solution_record(uscc, "设备预测性维护"))
    first = repo.entitlements[service.entitlement_id(uscc, city_policy(APP_SOLUTION_POLICY)["id"], "2023")]
    assert first.amount_fen == 2 * MILLION_YUAN_FEN
    await pay(repo, first)

    [top_up] = await push(repo, app_solution_record(uscc, "能耗管理"))
    assert (top_up.change, top_up.amount_fen) == ("new", MILLION_YUAN_FEN), "300万 cap − 200万 paid"
    assert top_up.award_key != "2023" and top_up.award_key.startswith("2023")
    beyond_the_cap = await push(repo, app_solution_record(uscc, "质量追溯"))
    assert {(e.entitlement_id, e.amount_fen) for e in beyond_the_cap} <= {(top_up.entitlement_id, MILLION_YUAN_FEN)}
    assert repo.entitlements[first.entitlement_id].amount_fen == 2 * MILLION_YUAN_FEN
    assert [
        (e.award_key, e.amount_fen) for e in await push(repo, app_solution_record(uscc, "云MES", award_year=2024))
    ] == [("2024", MILLION_YUAN_FEN)], "another year's cap owes nothing to this year's payment"


async def test_every_evaluation_is_told_what_the_policy_already_paid(monkeypatch: pytest.MonkeyPatch) -> None:
    document = city_policy(SPECIALIZED_SME_POLICY)
    repo, uscc = await given(document), testing.make_uscc()
    record = title_record(uscc, "provincial_specialized")
    [determined] = await push(repo, record)
    await pay(repo, determined, issued_at=datetime(2026, 3, 2, 2, tzinfo=UTC))
    told: list[tuple[str, tuple[rules.PriorAward, ...]]] = []
    real_evaluate = rules.evaluate

    def spy(policy: rules.CompiledPolicy, *, uscc: str, facts: Any, history: Any = ()) -> list[rules.Award]:
        told.append((uscc, tuple(history)))
        return real_evaluate(policy, uscc=uscc, facts=facts, history=history)

    monkeypatch.setattr(rules, "evaluate", spy)
    await service.record_submitted(repo, city=ZHENGZHOU, record=title_record(uscc), now=NOW)
    await push(repo, title_record(uscc, record_id=record.record_id))
    await publish(repo, published(document | {"version": 2}), now=NOW)

    paid = rules.PriorAward(award_key="once", amount_fen=PROVINCIAL_FEN, paid_on=date(2026, 3, 2), policy_version=1)
    determining = [call for call in told if call != (uscc, ())]
    assert determining == [(uscc, (paid,))] * 3, "one record, a run of records, a re-evaluation job"
    # 回头看 asks what the corrected record supports as if nothing had been paid: once,
    # for the correction of the record the payment rested on.
    assert told.count((uscc, ())) == 1


# --- a record that raises the award while its payment is in flight --------------------


async def test_a_raise_that_arrived_while_the_payment_was_in_flight_is_owed_as_a_new_tranche() -> None:
    repo, uscc = await given(city_policy(APP_SOLUTION_POLICY)), testing.make_uscc()
    confirmed = (await push(repo, app_solution_record(uscc, "方案甲"), app_solution_record(uscc, "方案乙")))[-1]
    assert confirmed.amount_fen == 2 * MILLION_YUAN_FEN
    # A third solution arrives after the enterprise confirmed 200万 and before it was paid.
    [raised] = await push(repo, app_solution_record(uscc, "方案丙"))
    assert (raised.change, raised.award_key, raised.amount_fen) == ("changed", "2023", 3 * MILLION_YUAN_FEN)

    payment = payment_for(confirmed)  # the finance system paid what was confirmed: 200万
    assert await service.payment_issued(repo, payment=payment, event_id="e1", now=NOW) is not None
    [owed] = await service.redetermine_after_payment(repo, payment=payment, now=NOW)

    assert (owed.change, owed.award_key, owed.amount_fen) == ("new", "2023#2", 1 * MILLION_YUAN_FEN)
    assert "300万元 − 本政策已奖励200万元 = 100万元" in owed.explanation.computation


async def test_a_payment_of_the_whole_award_leaves_nothing_to_redetermine() -> None:
    repo, uscc = await given(city_policy(APP_SOLUTION_POLICY)), testing.make_uscc()
    [determined] = await push(repo, app_solution_record(uscc, "方案甲"))
    payment = payment_for(determined)
    await service.payment_issued(repo, payment=payment, event_id="e1", now=NOW)
    assert await service.redetermine_after_payment(repo, payment=payment, now=NOW) == []
