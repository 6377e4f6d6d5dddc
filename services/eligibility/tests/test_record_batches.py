"""Unit tests of a run of department records handled at once: it must determine exactly
what handling the same records one by one determines, with a fixed number of queries."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from eligibility import service
from eligibility.models import Fact
from mianshen_shared import city, testing
from mianshen_shared.events.catalog import DepartmentRecordSubmitted
from mianshen_shared.messaging import Rejected

from .factories import published, sme_policy, title_record
from .fakes import FakeEligibilityRepository, publish

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 25, 8, tzinfo=UTC)
ZHENGZHOU = city.current()
OTHER_POLICY = sme_policy(policy_id="zz-test-other-award", little_giant_fen=1_000_000)


def credit_record(uscc: str) -> DepartmentRecordSubmitted:
    return title_record(
        uscc,
        department="credit",
        record_type="credit.serious_dishonesty",
        attributes={"authority": "郑州市发展和改革委员会", "document_no": "郑信〔2022〕1号"},
    )


def revoke(record: DepartmentRecordSubmitted) -> DepartmentRecordSubmitted:
    return record.model_copy(update={"action": "revoke", "attributes": {}})


class Scenario:
    """Enterprises with history before the run, and a mixed run of records about them."""

    def __init__(self) -> None:
        self.upgraded, self.newcomer, self.revoked, self.returning, self.moved_from, self.moved_to = (
            testing.make_uscc() for _ in range(6)
        )
        self.history = [
            title_record(self.upgraded, "provincial_specialized"),
            title_record(self.revoked, "national_little_giant"),
            title_record(self.moved_from, "provincial_specialized"),
        ]
        newcomer_title = title_record(self.newcomer, "provincial_specialized")
        upgrade = title_record(self.upgraded, "national_little_giant")
        returning = title_record(self.returning, "national_little_giant")
        self.run = [
            upgrade,
            newcomer_title,
            credit_record(self.newcomer),
            revoke(self.history[1]),
            newcomer_title.model_copy(update={"received_at": NOW}),  # a duplicate push
            title_record(self.newcomer, "national_little_giant", record_id=newcomer_title.record_id),
            revoke(upgrade),
            returning,
            revoke(returning),
            returning,
            self.history[2].model_copy(update={"uscc": self.moved_to}),  # a correction to another enterprise
            credit_record(self.upgraded),
        ]

    async def repository(self) -> FakeEligibilityRepository:
        repo = FakeEligibilityRepository()
        for document in (sme_policy(), OTHER_POLICY):
            await publish(repo, published(document), now=NOW)
        for record in self.history:
            await service.record_submitted(repo, city=ZHENGZHOU, record=record, now=NOW)
        return repo


def dumped(events: list[list[Any]]) -> list[list[dict[str, Any]]]:
    return [[e.model_dump(mode="json") for e in per_record] for per_record in events]


def facts_of(repo: FakeEligibilityRepository) -> dict[str, tuple[Any, ...]]:
    def row(f: Fact) -> tuple[Any, ...]:
        return (f.uscc, f.record_type, f.attributes, f.revoked, f.enterprise_name, f.updated_at)

    return {record_id: row(f) for record_id, f in repo.facts.items()}


def entitlements_of(repo: FakeEligibilityRepository) -> dict[Any, tuple[Any, ...]]:
    return {
        key: (e.uscc, e.policy_id, e.award_key, e.amount_fen, e.status, e.explanation)
        for key, e in repo.entitlements.items()
    }


async def one_by_one(repo: FakeEligibilityRepository, records: list[DepartmentRecordSubmitted]) -> list[list[Any]]:
    return [await service.record_submitted(repo, city=ZHENGZHOU, record=r, now=NOW) for r in records]


async def at_once(repo: Any, records: list[DepartmentRecordSubmitted]) -> list[list[Any]]:
    return await service.records_submitted(repo, city=ZHENGZHOU, records=records, now=NOW)


async def test_a_mixed_run_at_once_determines_exactly_what_one_by_one_does() -> None:
    scenario = Scenario()
    reference, batched = await scenario.repository(), await scenario.repository()

    expected = await one_by_one(reference, scenario.run)
    actual = await at_once(batched, scenario.run)

    assert dumped(actual) == dumped(expected)
    assert facts_of(batched) == facts_of(reference)
    assert entitlements_of(batched) == entitlements_of(reference)


async def test_the_mixed_run_announces_each_change_under_the_record_that_caused_it() -> None:
    scenario = Scenario()
    events = await at_once(await scenario.repository(), scenario.run)

    def changes(index: int) -> list[tuple[str, str, int]]:
        return [(e.uscc, e.change, e.amount_fen) for e in events[index] if e.policy_id == sme_policy()["id"]]

    giant, provincial = 200_000_000, 50_000_000
    assert changes(0) == [(scenario.upgraded, "changed", giant)]
    assert changes(1) == [(scenario.newcomer, "new", provincial)]
    assert events[2] == [], "credit records are credit-check's"
    assert changes(3) == [(scenario.revoked, "withdrawn", 0)]
    assert events[4] == [], "an identical push changes nothing"
    assert changes(5) == [(scenario.newcomer, "changed", giant)]
    assert changes(6) == [(scenario.upgraded, "changed", provincial)]
    assert [changes(i) for i in (7, 8, 9)] == [
        [(scenario.returning, "new", giant)],
        [(scenario.returning, "withdrawn", 0)],
        [(scenario.returning, "new", giant)],
    ]
    moved = [(scenario.moved_from, "withdrawn", 0), (scenario.moved_to, "new", provincial)]
    assert changes(10) == sorted(moved), "both enterprises, in the order of their codes"
    assert all(len(per_record) == 2 * len(changes(i)) for i, per_record in enumerate(events)), "both policies apply"


async def test_each_record_of_a_run_alone_matches_the_run_at_once() -> None:
    scenario = Scenario()
    single_runs, batched = await scenario.repository(), await scenario.repository()

    expected = [(await at_once(single_runs, [record]))[0] for record in scenario.run]
    assert dumped(await at_once(batched, scenario.run)) == dumped(expected)


class CountingRepository:
    """Counts every call that would be a database round trip in the real repository."""

    def __init__(self, inner: FakeEligibilityRepository) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            if name != "add_entitlement":  # only staged in the session, written at commit
                self.calls[name] += 1
            return await method(*args, **kwargs)

        return counted


async def test_a_run_costs_the_same_few_queries_however_long_it_is() -> None:
    async def queries(size: int) -> Counter[str]:
        repo = CountingRepository(await Scenario().repository())
        records = [title_record(testing.make_uscc(), "provincial_specialized") for _ in range(size)]
        events = await at_once(repo, records)
        assert [len(e) for e in events] == [2] * size
        return repo.calls

    few, many = await queries(3), await queries(60)
    assert few == many
    assert sum(many.values()) <= 6  # facts, policies, facts in play, entitlements, award history, insert
    assert "get_fact" not in many and "active_facts" not in many


async def test_a_run_of_nothing_but_credit_records_touches_nothing() -> None:
    repo = CountingRepository(await Scenario().repository())
    assert await at_once(repo, [credit_record(testing.make_uscc()) for _ in range(3)]) == [[], [], []]
    assert sum(repo.calls.values()) == 0


async def test_an_invalid_record_rejects_the_run_before_anything_is_stored() -> None:
    scenario = Scenario()
    repo = await scenario.repository()
    before = facts_of(repo)
    bad = title_record(testing.make_uscc()).model_copy(update={"department": "nobody"})
    with pytest.raises(Rejected) as err:
        await at_once(repo, [title_record(testing.make_uscc()), bad])
    assert err.value.reason == "unknown_department"
    assert facts_of(repo) == before
