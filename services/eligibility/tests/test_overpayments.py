"""Unit tests of 回头看: a record behind a paid entitlement corrected or revoked, and
what that means for what was paid; and the confirmation deadline a policy sets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from eligibility import service
from mianshen_shared import city, testing
from mianshen_shared.events.catalog import DepartmentRecordSubmitted, EntitlementDetermined, EntitlementOverpaid

from .factories import (
    APP_SOLUTION_POLICY,
    MILLION_YUAN_FEN,
    SPECIALIZED_SME_POLICY,
    app_solution_record,
    city_policy,
    payment_for,
    published,
    sme_policy,
    title_record,
)
from .fakes import FakeEligibilityRepository, publish

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 25, 8, tzinfo=UTC)
ZHENGZHOU = city.current()
GIANT_FEN, PROVINCIAL_FEN = 2 * MILLION_YUAN_FEN, MILLION_YUAN_FEN // 2


async def given(document: dict[str, Any]) -> FakeEligibilityRepository:
    repo = FakeEligibilityRepository()
    await publish(repo, published(document), now=NOW)
    return repo


async def push(repo: FakeEligibilityRepository, *records: DepartmentRecordSubmitted) -> list[Any]:
    per_record = await service.records_submitted(repo, city=ZHENGZHOU, records=list(records), now=NOW)
    return [event for events in per_record for event in events]


async def pay(repo: FakeEligibilityRepository, entitlement: Any) -> None:
    await service.payment_issued(repo, payment=payment_for(entitlement), event_id=str(uuid.uuid4()), now=NOW)


def overpaid(events: list[Any]) -> list[EntitlementOverpaid]:
    return [e for e in events if isinstance(e, EntitlementOverpaid)]


def revoke(record: DepartmentRecordSubmitted) -> DepartmentRecordSubmitted:
    return record.model_copy(update={"action": "revoke", "attributes": {}})


def corrected(record: DepartmentRecordSubmitted, title: str, document_no: str = "工信部企业函〔2022〕191号") -> Any:
    return record.model_copy(update={"attributes": {"title": title, "document_no": document_no}})


async def paid_giant(repo: FakeEligibilityRepository) -> tuple[DepartmentRecordSubmitted, EntitlementDetermined]:
    record = title_record(testing.make_uscc())
    [determined] = await push(repo, record)
    await pay(repo, determined)
    return record, determined


async def test_revoking_the_record_behind_a_paid_award_finds_it_overpaid_in_full() -> None:
    repo = await given(city_policy(SPECIALIZED_SME_POLICY))
    record, determined = await paid_giant(repo)

    [finding] = overpaid(await push(repo, revoke(record)))

    assert (finding.entitlement_id, finding.uscc, finding.award_key) == (
        determined.entitlement_id,
        determined.uscc,
        determined.award_key,
    )
    assert (finding.paid_fen, finding.due_fen, finding.explanation) == (GIANT_FEN, 0, None)
    assert record.record_id in finding.reason and "已撤销" in finding.reason
    assert finding.reason.startswith("市工信局报送的“专精特新等企业称号认定”数据")
    row = repo.entitlements[determined.entitlement_id]
    assert (row.status, row.amount_fen, row.paid_fen) == ("active", GIANT_FEN, GIANT_FEN), "never reopened"


async def test_a_correction_lowering_the_award_owes_the_lower_amount_with_its_explanation() -> None:
    repo = await given(city_policy(SPECIALIZED_SME_POLICY))
    record, _ = await paid_giant(repo)

    events = await push(repo, corrected(record, "provincial_specialized"))

    [finding] = overpaid(events)
    assert [type(e) for e in events] == [EntitlementOverpaid], "nothing re-determined on a settled award"
    assert (finding.paid_fen, finding.due_fen) == (GIANT_FEN, PROVINCIAL_FEN)
    assert finding.explanation is not None
    assert [f.attributes["title"] for f in finding.explanation.facts] == ["provincial_specialized"]
    assert "已更正" in finding.reason and "多兑现1,500,000.00元" in finding.reason


async def test_a_correction_that_leaves_the_amount_unchanged_finds_nothing() -> None:
    repo = await given(city_policy(SPECIALIZED_SME_POLICY))
    record, _ = await paid_giant(repo)
    assert await push(repo, corrected(record, "national_little_giant", document_no="工信部企业函〔2022〕999号")) == []


async def test_each_amount_due_is_announced_once_however_often_it_is_found_again() -> None:
    repo = await given(city_policy(SPECIALIZED_SME_POLICY))
    record, determined = await paid_giant(repo)

    first = overpaid(await push(repo, corrected(record, "provincial_specialized")))
    again = overpaid(await push(repo, corrected(record, "provincial_specialized", document_no="豫工信〔2022〕1号")))
    restored = overpaid(await push(repo, corrected(record, "national_little_giant")))
    lowered_again = overpaid(await push(repo, corrected(record, "provincial_specialized")))
    gone = overpaid(await push(repo, revoke(record)))

    assert [f.due_fen for f in first] == [PROVINCIAL_FEN]
    assert again == restored == lowered_again == []
    assert [f.due_fen for f in gone] == [0]
    assert sorted(due for _, due in repo.overpayments) == [0, PROVINCIAL_FEN]
    assert {e for e, _ in repo.overpayments} == {determined.entitlement_id}


async def test_the_later_tranche_is_the_first_to_fall_when_a_record_behind_a_top_up_is_revoked() -> None:
    repo, uscc = await given(city_policy(APP_SOLUTION_POLICY)), testing.make_uscc()
    await push(repo, app_solution_record(uscc, "方案甲"), app_solution_record(uscc, "方案乙"))
    policy_id = city_policy(APP_SOLUTION_POLICY)["id"]
    first = repo.entitlements[service.entitlement_id(uscc, policy_id, "2023")]
    await pay(repo, first)
    third = app_solution_record(uscc, "方案丙")
    [top_up] = await push(repo, third)
    await pay(repo, top_up)

    [finding] = overpaid(await push(repo, revoke(third)))

    assert (finding.entitlement_id, finding.paid_fen, finding.due_fen) == (top_up.entitlement_id, MILLION_YUAN_FEN, 0)


async def test_a_new_record_next_to_a_paid_award_is_no_correction_of_it() -> None:
    repo = await given(city_policy(SPECIALIZED_SME_POLICY))
    _, determined = await paid_giant(repo)
    assert overpaid(await push(repo, title_record(determined.uscc, "provincial_specialized"))) == []


async def test_one_record_at_a_time_finds_the_same_as_a_run_of_records() -> None:
    repo = await given(city_policy(SPECIALIZED_SME_POLICY))
    record, _ = await paid_giant(repo)
    [finding] = await service.record_submitted(repo, city=ZHENGZHOU, record=revoke(record), now=NOW)
    assert isinstance(finding, EntitlementOverpaid) and finding.due_fen == 0


# --- the confirmation deadline --------------------------------------------------------------


async def test_a_determination_carries_the_confirmation_days_its_policy_sets() -> None:
    document = sme_policy(policy_id="zz-test-deadline") | {"procedure": {"confirmation_days": 15}}
    repo = await given(document)
    [determined] = await push(repo, title_record(testing.make_uscc()))
    assert determined.confirmation_days == 15


async def test_a_determination_under_a_policy_without_a_deadline_leaves_it_to_the_default() -> None:
    repo = await given(sme_policy(policy_id="zz-test-no-deadline"))
    [determined] = await push(repo, title_record(testing.make_uscc()))
    assert determined.confirmation_days is None
