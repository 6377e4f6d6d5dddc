"""Unit tests of the credit gate, with an in-memory repository."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from credit_check import service
from mianshen_shared import city, testing
from mianshen_shared.events.catalog import CreditAssessed, CreditStandingChanged, DepartmentRecordSubmitted
from mianshen_shared.messaging import Rejected

from .factories import accepted, credit_record, red_record, revoked
from .fakes import FakeCreditRepository

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 25, 8, tzinfo=UTC)
TODAY = date(2026, 11, 25)
ZHENGZHOU = city.current()


async def record(
    repo: FakeCreditRepository, submitted: DepartmentRecordSubmitted, *, today: date = TODAY
) -> list[service.CreditEvent]:
    return await service.record_credit(repo, city=ZHENGZHOU, record=submitted, today=today, now=NOW)


def revocation(submitted: DepartmentRecordSubmitted) -> DepartmentRecordSubmitted:
    return submitted.model_copy(update={"action": "revoke", "attributes": {}})


def released(events: list[service.CreditEvent]) -> list[CreditAssessed]:
    return [e for e in events if isinstance(e, CreditAssessed)]


def standings(events: list[service.CreditEvent]) -> list[CreditStandingChanged]:
    return [e for e in events if isinstance(e, CreditStandingChanged)]


# --- the decision --------------------------------------------------------------------


async def test_enterprise_without_records_is_cleared() -> None:
    decision = await service.assess(
        FakeCreditRepository(), accepted=accepted(testing.make_uscc()), today=TODAY, now=NOW
    )
    assert decision.decision == "cleared"
    assert decision.reasons == [] and decision.red_records == []


async def test_listed_enterprise_is_held_with_the_record_it_rested_on() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    listed = credit_record(uscc)
    await record(repo, listed)
    decision = await service.assess(repo, accepted=accepted(uscc), today=TODAY, now=NOW)
    assert decision.decision == "held"
    assert [r.record_id for r in decision.reasons] == [listed.record_id]
    assert decision.reasons[0].list_type == "credit.dishonest_judgment_debtor"


async def test_the_acceptance_its_kind_and_sealed_account_pass_through_unchanged() -> None:
    acceptance = accepted(testing.make_uscc(), benefit_kind="refund")
    decision = await service.assess(FakeCreditRepository(), accepted=acceptance, today=TODAY, now=NOW)
    assert (decision.acceptance_id, decision.confirmation_id, decision.entitlement_id) == (
        acceptance.acceptance_id,
        acceptance.confirmation_id,
        acceptance.entitlement_id,
    )
    assert decision.benefit_kind == "refund"
    assert decision.bank_account == acceptance.bank_account


async def test_red_records_in_force_travel_with_a_cleared_decision() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    honoured = red_record(uscc)
    await record(repo, honoured)
    await record(repo, red_record(uscc, effective=TODAY + timedelta(days=1)))  # not yet
    decision = await service.assess(repo, accepted=accepted(uscc), today=TODAY, now=NOW)
    assert decision.decision == "cleared"
    assert [r.record_id for r in decision.red_records] == [honoured.record_id]


@pytest.mark.parametrize(
    ("effective", "expires_on", "decision"),
    [
        (date(2022, 1, 1), TODAY + timedelta(days=1), "held"),  # the last day before the expiry counts
        (date(2022, 1, 1), TODAY, "cleared"),  # the expiry day itself no longer does
        (TODAY, None, "held"),  # the effective day counts
        (TODAY + timedelta(days=1), None, "cleared"),  # a record starting later does not hold today
    ],
)
async def test_a_record_is_in_force_from_its_effective_date_until_the_day_it_expires(
    effective: date, expires_on: date | None, decision: str
) -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    expiry = expires_on.isoformat() if expires_on else None
    await record(repo, credit_record(uscc, effective=effective, expires_on=expiry))
    assert (await service.assess(repo, accepted=accepted(uscc), today=TODAY, now=NOW)).decision == decision


async def test_revoked_record_no_longer_holds() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    listed = credit_record(uscc)
    await record(repo, listed)
    await record(repo, revocation(listed))
    assert (await service.assess(repo, accepted=accepted(uscc), today=TODAY, now=NOW)).decision == "cleared"


async def test_the_same_acceptance_told_again_keeps_the_first_decision() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    acceptance = accepted(uscc)
    first = await service.assess(repo, accepted=acceptance, today=TODAY, now=NOW)
    await record(repo, credit_record(uscc))
    again = await service.assess(repo, accepted=acceptance, today=TODAY, now=NOW)
    assert (
        (first.assessment_id, first.decision)
        == (again.assessment_id, again.decision)
        == (
            first.assessment_id,
            "cleared",
        )
    )
    assert len(repo.assessments) == 1


async def test_a_re_acceptance_of_the_same_confirmation_gets_its_own_assessment() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    first = accepted(uscc)
    await service.assess(repo, accepted=first, today=TODAY, now=NOW)
    await service.acceptance_revoked(repo, revoked=revoked(first))
    await record(repo, credit_record(uscc))
    second = first.model_copy(update={"acceptance_id": accepted(uscc).acceptance_id})

    decision = await service.assess(repo, accepted=second, today=TODAY, now=NOW)

    assert (decision.acceptance_id, decision.decision) == (second.acceptance_id, "held")
    assert len({a.assessment_id for a in repo.assessments.values()}) == 2


# --- release -------------------------------------------------------------------------


async def test_removing_the_only_blocking_record_releases_the_hold_at_once() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    listed = credit_record(uscc)
    await record(repo, listed)
    acceptance = accepted(uscc)
    held = await service.assess(repo, accepted=acceptance, today=TODAY, now=NOW)

    [release] = released(await record(repo, revocation(listed)))

    assert (release.decision, release.acceptance_id, release.reasons) == ("cleared", acceptance.acceptance_id, [])
    assert release.assessment_id != held.assessment_id
    assert release.bank_account == acceptance.bank_account
    assert repo.assessments[release.assessment_id].supersedes == held.assessment_id
    assert repo.acceptances[acceptance.acceptance_id].decision == "cleared"


async def test_a_hold_stays_while_another_black_record_is_in_force() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    first, second = credit_record(uscc), credit_record(uscc, record_type="credit.major_tax_violation")
    await record(repo, first)
    await record(repo, second)
    await service.assess(repo, accepted=accepted(uscc), today=TODAY, now=NOW)
    assert released(await record(repo, revocation(first))) == []
    assert len(released(await record(repo, revocation(second)))) == 1


async def test_a_revoked_acceptance_is_never_released() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    listed = credit_record(uscc)
    await record(repo, listed)
    acceptance = accepted(uscc)
    await service.assess(repo, accepted=acceptance, today=TODAY, now=NOW)
    await service.acceptance_revoked(repo, revoked=revoked(acceptance))
    assert released(await record(repo, revocation(listed))) == []


async def test_the_sweep_releases_a_hold_once_its_record_has_expired_and_only_once() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    tomorrow = TODAY + timedelta(days=1)
    await record(repo, credit_record(uscc, expires_on=tomorrow.isoformat()))
    acceptance = accepted(uscc)
    await service.assess(repo, accepted=acceptance, today=TODAY, now=NOW)

    assert await service.release_expired(repo, today=TODAY, now=NOW, limit=10) == [], "still in force today"
    [release] = await service.release_expired(repo, today=tomorrow, now=NOW, limit=10)
    assert (release.acceptance_id, release.decision) == (acceptance.acceptance_id, "cleared")
    assert await service.release_expired(repo, today=tomorrow, now=NOW, limit=10) == []


async def test_a_record_starting_after_acceptance_does_not_touch_a_cleared_decision() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    await service.assess(repo, accepted=accepted(uscc), today=TODAY, now=NOW)
    events = await record(repo, credit_record(uscc, effective=TODAY + timedelta(days=3)))
    assert released(events) == []
    assert [a.decision for a in repo.assessments.values()] == ["cleared"]


# --- standing ------------------------------------------------------------------------


async def test_every_change_announces_the_records_in_force_or_scheduled() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    await record(repo, credit_record(uscc, expires_on="2024-12-31"))  # long expired
    await record(repo, credit_record(uscc, expires_on=TODAY.isoformat()))  # expired today
    later = credit_record(uscc, effective=TODAY + timedelta(days=10), expires_on="2027-12-31")
    await record(repo, later)
    honoured = red_record(uscc)

    [standing] = standings(await record(repo, honoured))

    assert standing.uscc == uscc
    assert [(r.record_id, r.effective_date, r.expires_on) for r in standing.black_records] == [
        (later.record_id, later.effective_date, date(2027, 12, 31))
    ]
    assert [r.record_id for r in standing.red_records] == [honoured.record_id]


async def test_a_revocation_announces_the_standing_without_the_record() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    listed = credit_record(uscc)
    await record(repo, listed)
    [standing] = standings(await record(repo, revocation(listed)))
    assert standing.black_records == []


async def test_a_record_told_again_unchanged_or_an_unknown_revocation_announces_nothing() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    listed = credit_record(uscc)
    await record(repo, listed)
    assert await record(repo, listed) == []
    assert await record(repo, revocation(credit_record(uscc))) == []


async def test_a_correction_moving_a_record_to_another_enterprise_announces_both_standings() -> None:
    repo, wrong, right = FakeCreditRepository(), testing.make_uscc(), testing.make_uscc()
    listed = credit_record(wrong)
    await record(repo, listed)
    await service.assess(repo, accepted=accepted(wrong), today=TODAY, now=NOW)

    events = await record(repo, listed.model_copy(update={"uscc": right}))

    assert {(s.uscc, len(s.black_records)) for s in standings(events)} == {(wrong, 0), (right, 1)}
    assert [r.uscc for r in released(events)] == [wrong]


# --- refused input ---------------------------------------------------------------------


async def test_credit_record_with_bad_attributes_is_rejected() -> None:
    listed = credit_record(testing.make_uscc()).model_copy(update={"attributes": {"authority": "x"}})
    with pytest.raises(Rejected) as err:
        await record(FakeCreditRepository(), listed)
    assert err.value.reason == "invalid_attributes"
    assert "document_no" in err.value.message


@pytest.mark.parametrize("expires_on", ["2026-02-28", "2026-03-01"], ids=["before", "on the same day"])
async def test_a_record_expiring_before_it_would_take_effect_is_refused_in_chinese(expires_on: str) -> None:
    repo = FakeCreditRepository()
    listed = credit_record(testing.make_uscc(), effective=date(2026, 3, 1), expires_on=expires_on)
    with pytest.raises(Rejected) as err:
        await record(repo, listed)
    assert err.value.reason == "invalid_validity"
    assert f"失效日期（{expires_on}）应晚于生效日期（2026-03-01）" in err.value.message
    assert repo.records == {}


async def test_a_record_in_force_for_a_single_day_is_accepted() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    await record(repo, credit_record(uscc, effective=TODAY, expires_on=(TODAY + timedelta(days=1)).isoformat()))
    assert (await service.assess(repo, accepted=accepted(uscc), today=TODAY, now=NOW)).decision == "held"


async def test_a_revocation_naming_another_enterprise_is_refused() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    acceptance = accepted(uscc)
    await service.assess(repo, accepted=acceptance, today=TODAY, now=NOW)
    with pytest.raises(Rejected) as err:
        await service.acceptance_revoked(repo, revoked=revoked(acceptance, uscc=testing.make_uscc()))
    assert err.value.reason == "acceptance_mismatch"
    assert repo.acceptances[acceptance.acceptance_id].revoked_at is None
