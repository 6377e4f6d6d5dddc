"""第一批第8项 跨行业跨领域工业互联网平台: 1000万 once per enterprise."""

from __future__ import annotations

from datetime import date

import pytest

from mianshen_shared.rules import Fact, evaluate
from mianshen_shared.testing import make_uscc

from .factories import WAN, fact, policy

pytestmark = pytest.mark.unit

POLICY = policy("08-cross-industry-industrial-internet-platform-award.yaml")


def platform(
    name: str = "中原工业互联网平台",
    *,
    category: str = "cross_industry_cross_domain",
    list_year: int = 2022,
    effective: date = date(2022, 6, 1),
) -> Fact:
    return fact(
        "miit.industrial_internet_platform_recognized",
        {"platform_name": name, "platform_category": category, "list_year": list_year},
        department="gxj",
        effective=effective,
    )


def test_cross_industry_platform_earns_ten_million_once() -> None:
    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[platform()])
    assert (award.award_key, award.amount_fen) == ("once", 1000 * WAN)
    assert award.explanation.rule.endswith("取最高档“跨行业、跨领域工业互联网平台”1,000万元")


def test_listing_again_in_a_later_year_is_not_rewarded_again() -> None:
    facts = [platform(list_year=2022), platform(list_year=2023, effective=date(2023, 5, 1))]
    awards = evaluate(POLICY, uscc=make_uscc(), facts=facts)
    assert [(a.award_key, a.amount_fen) for a in awards] == [("once", 1000 * WAN)]


def test_two_platforms_of_one_enterprise_are_still_one_award() -> None:
    awards = evaluate(POLICY, uscc=make_uscc(), facts=[platform("平台甲"), platform("平台乙")])
    assert [a.amount_fen for a in awards] == [1000 * WAN]


def test_specialized_platform_is_not_a_cross_industry_one() -> None:
    assert evaluate(POLICY, uscc=make_uscc(), facts=[platform(category="specialized")]) == []


def test_platform_recognised_before_the_policy_took_effect_does_not_count() -> None:
    assert evaluate(POLICY, uscc=make_uscc(), facts=[platform(list_year=2021, effective=date(2021, 12, 31))]) == []


def test_enterprise_registered_outside_zhengzhou_gets_nothing() -> None:
    assert evaluate(POLICY, uscc=make_uscc("110105"), facts=[platform()]) == []
