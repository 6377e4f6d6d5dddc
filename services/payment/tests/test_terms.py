"""Policy terms from the policies topic, and which 公示期 a payment gets from them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mianshen_shared.events.catalog import PolicyRetired
from mianshen_shared.messaging import Rejected
from payment import terms

from .notice_support import POLICY_ID, FakeNoticeRepository, published, red_record

pytestmark = pytest.mark.unit


async def test_a_published_policy_without_a_procedure_gets_five_working_days_for_everyone() -> None:
    repo = FakeNoticeRepository()
    row = await terms.record_published(repo, published=published())
    assert (row.notice_working_days, row.red_list_notice_working_days) == (5, 5)
    assert row.benefit_kind == "cash_award"
    assert row.executing_department is None


async def test_the_procedure_block_sets_notice_red_list_days_department_and_confirmation_days() -> None:
    repo = FakeNoticeRepository()
    procedure = {
        "notice_working_days": 7,
        "red_list_notice_working_days": 2,
        "executing_department": "gzw",
        "confirmation_days": 15,
    }
    row = await terms.record_published(repo, published=published(procedure=procedure, kind="rent_reduction"))
    assert (row.notice_working_days, row.red_list_notice_working_days) == (7, 2)
    assert (row.executing_department, row.confirmation_days, row.benefit_kind) == ("gzw", 15, "rent_reduction")


async def test_red_list_days_default_to_the_policys_own_notice() -> None:
    row = await terms.record_published(
        FakeNoticeRepository(), published=published(procedure={"notice_working_days": 3})
    )
    assert row.red_list_notice_working_days == 3


async def test_a_republished_version_replaces_its_terms() -> None:
    repo = FakeNoticeRepository()
    await terms.record_published(repo, published=published(procedure={"notice_working_days": 3}))
    await terms.record_published(repo, published=published(procedure={"notice_working_days": 4}))
    assert len(repo.policy_terms) == 1
    assert repo.policy_terms[(POLICY_ID, 1)].notice_working_days == 4


@pytest.mark.parametrize("days", [-1, 31, "5", True])
async def test_notice_days_outside_zero_to_thirty_are_refused(days: object) -> None:
    with pytest.raises(Rejected) as refused:
        await terms.record_published(
            FakeNoticeRepository(), published=published(procedure={"notice_working_days": days})
        )
    assert refused.value.reason == "invalid_notice_days"


async def test_a_retired_version_is_marked_and_keeps_its_terms() -> None:
    repo = FakeNoticeRepository()
    await terms.record_published(repo, published=published())
    when = datetime(2026, 11, 25, tzinfo=UTC)
    await terms.record_retired(
        repo, retired=PolicyRetired(policy_id=POLICY_ID, version=1, retired_at=when, reason="政策到期")
    )
    assert repo.policy_terms[(POLICY_ID, 1)].retired_at == when
    assert repo.policy_terms[(POLICY_ID, 1)].notice_working_days == 5


async def test_a_payment_uses_its_own_version_then_the_latest_then_the_default() -> None:
    repo = FakeNoticeRepository()
    await terms.record_published(repo, published=published(version=1, procedure={"notice_working_days": 3}))
    await terms.record_published(repo, published=published(version=2, procedure={"notice_working_days": 4}))
    own = await terms.notice_terms_for(repo, policy_id=POLICY_ID, policy_version=1, red_records=[])
    unknown_version = await terms.notice_terms_for(repo, policy_id=POLICY_ID, policy_version=9, red_records=[])
    unknown_policy = await terms.notice_terms_for(repo, policy_id="zz-unknown", policy_version=1, red_records=[])
    assert (own.working_days, own.basis) == (3, "policy")
    assert (unknown_version.working_days, unknown_version.basis) == (4, "latest_version")
    assert (unknown_policy.working_days, unknown_policy.basis) == (5, "default")
    assert "默认" in unknown_policy.reason


async def test_a_red_listed_enterprise_gets_the_shorter_notice_and_the_reason_names_the_list() -> None:
    repo = FakeNoticeRepository()
    procedure = {"notice_working_days": 5, "red_list_notice_working_days": 2}
    await terms.record_published(repo, published=published(procedure=procedure))
    chosen = await terms.notice_terms_for(repo, policy_id=POLICY_ID, policy_version=1, red_records=[red_record()])
    assert (chosen.working_days, chosen.basis) == (2, "red_list")
    assert "守信激励" in chosen.reason and "credit.a_level_taxpayer" in chosen.reason


async def test_a_red_list_changes_nothing_where_the_policy_gives_no_shorter_notice() -> None:
    repo = FakeNoticeRepository()
    await terms.record_published(repo, published=published())
    chosen = await terms.notice_terms_for(repo, policy_id=POLICY_ID, policy_version=1, red_records=[red_record()])
    assert (chosen.working_days, chosen.basis) == (5, "policy")
