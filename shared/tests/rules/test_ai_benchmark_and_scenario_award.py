"""第一批第17项 市级人工智能: 标杆企业10万 and 典型应用场景50万 are separate awards,
each once per unit."""

from __future__ import annotations

from datetime import date

import pytest

from mianshen_shared.rules import Fact, evaluate
from mianshen_shared.testing import make_uscc

from .factories import WAN, fact, policy

pytestmark = pytest.mark.unit

POLICY = policy("17-ai-benchmark-and-scenario-award.yaml")


def listing(designation: str, name: str = "智能客服", *, year: int = 2022, effective: date = date(2022, 6, 1)) -> Fact:
    return fact(
        "miit.municipal_ai_listing",
        {"designation": designation, "listed_name": name, "list_year": year},
        department="gxj",
        effective=effective,
    )


@pytest.mark.parametrize(("designation", "wan"), [("benchmark_enterprise", 10), ("typical_scenario", 50)])
def test_each_designation_earns_the_amount_the_clause_names(designation: str, wan: int) -> None:
    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[listing(designation)])
    assert (award.award_key, award.amount_fen) == (designation, wan * WAN)


def test_unit_with_both_designations_gets_both_awards() -> None:
    awards = evaluate(POLICY, uscc=make_uscc(), facts=[listing("benchmark_enterprise"), listing("typical_scenario")])
    assert [(a.award_key, a.amount_fen) for a in awards] == [
        ("benchmark_enterprise", 10 * WAN),
        ("typical_scenario", 50 * WAN),
    ]


def test_several_scenarios_of_one_unit_are_rewarded_once() -> None:
    facts = [listing("typical_scenario", "智慧医疗"), listing("typical_scenario", "智慧交通")]
    awards = evaluate(POLICY, uscc=make_uscc(), facts=facts)
    assert [(a.award_key, a.amount_fen) for a in awards] == [("typical_scenario", 50 * WAN)]


def test_listing_again_in_a_later_year_is_not_rewarded_again() -> None:
    facts = [listing("benchmark_enterprise"), listing("benchmark_enterprise", year=2023, effective=date(2023, 6, 1))]
    awards = evaluate(POLICY, uscc=make_uscc(), facts=facts)
    assert [a.amount_fen for a in awards] == [10 * WAN]


def test_listing_before_the_policy_took_effect_does_not_count() -> None:
    old = listing("typical_scenario", year=2021, effective=date(2021, 12, 31))
    assert evaluate(POLICY, uscc=make_uscc(), facts=[old]) == []


def test_unit_registered_outside_zhengzhou_gets_nothing() -> None:
    assert evaluate(POLICY, uscc=make_uscc("410305"), facts=[listing("typical_scenario")]) == []
