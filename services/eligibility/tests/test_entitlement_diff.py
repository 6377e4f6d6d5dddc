"""Unit tests of 数据比对: the diff between awards and stored entitlements, and the
handlers' service functions on an in-memory repository."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from eligibility import service
from eligibility.models import Entitlement
from mianshen_shared import city, rules, testing
from mianshen_shared.events.catalog import Explanation, FactUsed
from mianshen_shared.messaging import Rejected

from .factories import LITTLE_GIANT_FEN, PROVINCIAL_FEN, SME_POLICY_ID, published, retired, sme_policy, title_record
from .fakes import FakeEligibilityRepository, publish, retire

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 25, 8, tzinfo=UTC)
ZHENGZHOU = city.current()


def explanation(*record_ids: str) -> Explanation:
    return Explanation(
        policy_id=SME_POLICY_ID,
        policy_version=1,
        legal_basis="《测试政策》（郑政〔2022〕1号）",
        clause="条款",
        rule="规则",
        computation="核定",
        facts=[
            FactUsed(
                record_id=r,
                department="gxj",
                record_type="miit.sme_title_recognized",
                effective_date=date(2022, 6, 1),
                attributes={},
            )
            for r in record_ids
        ],
    )


def award(amount_fen: int, *record_ids: str, key: str = "once") -> rules.Award:
    return rules.Award(award_key=key, amount_fen=amount_fen, explanation=explanation(*record_ids or ("r-1",)))


def stored(amount_fen: int, *record_ids: str, key: str = "once", status: str = "active") -> dict[str, Entitlement]:
    row = Entitlement(
        award_key=key,
        amount_fen=amount_fen,
        status=status,
        explanation=explanation(*record_ids or ("r-1",)).model_dump(mode="json"),
    )
    return {key: row}


# --- the diff ---------------------------------------------------------------------


def test_an_award_never_determined_before_is_new() -> None:
    [d] = service.diff([award(LITTLE_GIANT_FEN)], {}, withdrawal_reason="")
    assert (d.change, d.amount_fen, d.previous_amount_fen) == ("new", LITTLE_GIANT_FEN, None)


def test_the_same_award_again_is_no_change() -> None:
    assert service.diff([award(LITTLE_GIANT_FEN)], stored(LITTLE_GIANT_FEN), withdrawal_reason="") == []


def test_a_different_amount_is_a_change_with_the_previous_amount() -> None:
    [d] = service.diff([award(LITTLE_GIANT_FEN)], stored(PROVINCIAL_FEN), withdrawal_reason="")
    assert (d.change, d.amount_fen, d.previous_amount_fen) == ("changed", LITTLE_GIANT_FEN, PROVINCIAL_FEN)


def test_the_same_amount_resting_on_different_facts_is_a_change() -> None:
    [d] = service.diff([award(LITTLE_GIANT_FEN, "r-2")], stored(LITTLE_GIANT_FEN, "r-1"), withdrawal_reason="")
    assert d.change == "changed"
    assert [f.record_id for f in d.explanation.facts] == ["r-2"]


def test_an_active_entitlement_no_longer_awarded_is_withdrawn_to_zero_with_the_reason() -> None:
    [d] = service.diff([], stored(LITTLE_GIANT_FEN), withdrawal_reason="数据已撤销，")
    assert (d.change, d.amount_fen, d.previous_amount_fen) == ("withdrawn", 0, LITTLE_GIANT_FEN)
    assert d.explanation.computation == "数据已撤销，原认定金额2,000,000.00元撤回。"
    assert [f.record_id for f in d.explanation.facts] == ["r-1"], "the withdrawal keeps what the award rested on"


def test_a_withdrawn_entitlement_stays_silent_until_awarded_again_as_new() -> None:
    gone = stored(0, status="withdrawn")
    assert service.diff([], gone, withdrawal_reason="") == []
    [d] = service.diff([award(PROVINCIAL_FEN)], gone, withdrawal_reason="")
    assert (d.change, d.previous_amount_fen) == ("new", None)


def test_award_keys_are_diffed_independently() -> None:
    before = stored(PROVINCIAL_FEN, key="2022") | stored(PROVINCIAL_FEN, key="2023")
    out = service.diff(
        [award(PROVINCIAL_FEN, key="2023"), award(PROVINCIAL_FEN, key="2024")], before, withdrawal_reason=""
    )
    assert [(d.award_key, d.change) for d in out] == [("2024", "new"), ("2022", "withdrawn")]


def test_entitlement_ids_are_stable_per_enterprise_policy_and_award_key() -> None:
    uscc = testing.make_uscc()
    assert service.entitlement_id(uscc, "p", "once") == service.entitlement_id(uscc, "p", "once")
    assert service.entitlement_id(uscc, "p", "once") != service.entitlement_id(uscc, "p", "2022")


# --- records and policies through the service layer --------------------------------


async def with_policy(document: dict | None = None) -> FakeEligibilityRepository:
    repo = FakeEligibilityRepository()
    await publish(repo, published(document or sme_policy()), now=NOW)
    return repo


async def push(repo: FakeEligibilityRepository, record) -> list:
    return await service.record_submitted(repo, city=ZHENGZHOU, record=record, now=NOW)


async def test_a_little_giant_title_is_determined_at_two_million_yuan() -> None:
    repo, uscc = await with_policy(), testing.make_uscc()
    record = title_record(uscc)
    [event] = await push(repo, record)
    assert (event.change, event.amount_fen, event.previous_amount_fen) == ("new", LITTLE_GIANT_FEN, None)
    assert (event.uscc, event.policy_id, event.policy_version, event.award_key) == (uscc, SME_POLICY_ID, 1, "once")
    assert event.entitlement_id == service.entitlement_id(uscc, SME_POLICY_ID, "once")
    assert [f.record_id for f in event.explanation.facts] == [record.record_id]
    assert event.enterprise_name == record.enterprise_name


async def test_a_higher_title_later_changes_the_amount() -> None:
    repo, uscc = await with_policy(), testing.make_uscc()
    await push(repo, title_record(uscc, "provincial_specialized"))
    [event] = await push(repo, title_record(uscc, "national_little_giant"))
    assert (event.change, event.amount_fen, event.previous_amount_fen) == ("changed", LITTLE_GIANT_FEN, PROVINCIAL_FEN)


async def test_pushing_the_same_record_twice_determines_nothing_the_second_time() -> None:
    repo, uscc = await with_policy(), testing.make_uscc()
    record = title_record(uscc)
    assert len(await push(repo, record)) == 1
    assert await push(repo, record.model_copy(update={"received_at": NOW})) == []


async def test_revoking_the_record_withdraws_the_entitlement() -> None:
    repo, uscc = await with_policy(), testing.make_uscc()
    record = title_record(uscc)
    await push(repo, record)
    [event] = await push(repo, title_record(uscc, record_id=record.record_id, action="revoke", attributes={}))
    assert (event.change, event.amount_fen, event.previous_amount_fen) == ("withdrawn", 0, LITTLE_GIANT_FEN)
    assert repo.facts[record.record_id].revoked
    assert await push(repo, title_record(uscc, record_id=record.record_id, action="revoke", attributes={})) == []


async def test_a_corrected_record_replaces_the_earlier_version_of_it() -> None:
    repo, uscc = await with_policy(), testing.make_uscc()
    record = title_record(uscc, "national_little_giant")
    await push(repo, record)
    [event] = await push(repo, title_record(uscc, "provincial_specialized", record_id=record.record_id))
    assert (event.change, event.amount_fen) == ("changed", PROVINCIAL_FEN)
    assert len(await repo.active_facts(uscc)) == 1


async def test_records_stored_before_a_policy_is_published_are_evaluated_on_publication() -> None:
    repo, giant, provincial = FakeEligibilityRepository(), testing.make_uscc(), testing.make_uscc()
    assert await push(repo, title_record(giant)) == []
    await push(repo, title_record(provincial, "provincial_specialized"))
    events = await publish(repo, published(sme_policy()), now=NOW)
    assert {(e.uscc, e.change, e.amount_fen) for e in events} == {
        (giant, "new", LITTLE_GIANT_FEN),
        (provincial, "new", PROVINCIAL_FEN),
    }


async def test_a_newer_policy_version_changes_amounts_and_an_older_one_is_ignored() -> None:
    repo, uscc = await with_policy(), testing.make_uscc()
    await push(repo, title_record(uscc))
    [event] = await publish(repo, published(sme_policy(version=2, little_giant_fen=300_000_000)), now=NOW)
    assert (event.change, event.amount_fen, event.previous_amount_fen, event.policy_version) == (
        "changed",
        300_000_000,
        LITTLE_GIANT_FEN,
        2,
    )
    assert await publish(repo, published(sme_policy(version=1)), now=NOW) == []
    assert repo.policies[SME_POLICY_ID].version == 2


async def test_retiring_the_policy_withdraws_its_entitlements_once() -> None:
    repo, uscc = await with_policy(), testing.make_uscc()
    await push(repo, title_record(uscc))
    [event] = await retire(repo, retired(sme_policy(), reason="政策到期"), now=NOW)
    assert (event.change, event.amount_fen, event.previous_amount_fen) == ("withdrawn", 0, LITTLE_GIANT_FEN)
    assert "政策已废止（政策到期）" in event.explanation.computation
    assert await retire(repo, retired(sme_policy()), now=NOW) == []
    assert await push(repo, title_record(uscc, "provincial_specialized")) == [], "a retired policy awards nothing"


async def test_retiring_a_version_older_than_the_one_held_changes_nothing() -> None:
    repo, uscc = await with_policy(sme_policy(version=2)), testing.make_uscc()
    await push(repo, title_record(uscc))
    assert await retire(repo, retired(sme_policy(version=1)), now=NOW) == []
    assert repo.policies[SME_POLICY_ID].status == "published"


async def test_credit_records_are_left_to_credit_check() -> None:
    repo = await with_policy()
    record = title_record(
        testing.make_uscc(),
        department="credit",
        record_type="credit.serious_dishonesty",
        attributes={"authority": "郑州市发展和改革委员会", "document_no": "郑信〔2022〕1号"},
    )
    assert await push(repo, record) == []
    assert repo.facts == {}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"record_type": "miit.unknown_kind"}, "unknown_record_type"),
        ({"department": "rsj"}, "record_type_not_allowed"),
        ({"department": "nobody"}, "unknown_department"),
        ({"attributes": {"title": "world_champion", "document_no": "x"}}, "invalid_attributes"),
        ({"attributes": {"title": "national_little_giant"}}, "invalid_attributes"),
    ],
)
async def test_records_the_city_does_not_allow_are_rejected(changes: dict, reason: str) -> None:
    repo = await with_policy()
    record = title_record(testing.make_uscc()).model_copy(update=changes)
    with pytest.raises(Rejected) as err:
        await push(repo, record)
    assert err.value.reason == reason
    assert repo.facts == {}


async def test_a_policy_event_whose_document_does_not_compile_is_rejected() -> None:
    document = sme_policy() | {"record_types": ["miit.unknown_kind"]}
    with pytest.raises(Rejected) as err:
        await service.policy_published(
            FakeEligibilityRepository(), event=published(document), now=NOW, correlation_id="c"
        )
    assert err.value.reason == "invalid_policy"
    assert "miit.unknown_kind" in err.value.message


async def test_the_summary_adds_up_active_entitlements_per_policy() -> None:
    repo, uscc = await with_policy(), testing.make_uscc()
    await push(repo, title_record(uscc))
    other = sme_policy(policy_id="zz-test-other-award", little_giant_fen=1_000_000)
    await publish(repo, published(other), now=NOW)
    amounts = await service.entitled_amounts(repo, uscc=uscc)
    assert [(a.policy_id, a.amount_fen) for a in amounts] == [
        ("zz-test-other-award", 1_000_000),
        (SME_POLICY_ID, LITTLE_GIANT_FEN),
    ]
    assert await service.entitled_amounts(repo, uscc=testing.make_uscc()) == []
