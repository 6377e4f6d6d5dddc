"""第一批第9项 国家级工业APP优秀解决方案: 100万 each, 300万 per enterprise per year,
one product series counted once."""

from __future__ import annotations

from datetime import date

import pytest

from mianshen_shared.rules import evaluate
from mianshen_shared.testing import make_uscc

from .factories import INDUSTRIAL_APP, WAN, app_solution, policy

pytestmark = pytest.mark.unit

POLICY = policy(INDUSTRIAL_APP)


def test_one_solution_earns_one_million_for_its_award_year() -> None:
    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[app_solution("智能排产APP", award_year=2022)])
    assert (award.award_key, award.amount_fen) == ("2022", 100 * WAN)


def test_three_solutions_in_a_year_reach_exactly_the_cap() -> None:
    facts = [app_solution(name) for name in ("排产APP", "质检APP", "能耗APP")]

    [award] = evaluate(POLICY, uscc=make_uscc(), facts=facts)

    assert award.amount_fen == 300 * WAN
    assert award.explanation.computation.endswith("3项 × 100万元 = 300万元，同一年度单个企业最高300万元，核定300万元")


def test_four_solutions_in_one_year_are_capped_at_three_million() -> None:
    facts = [app_solution(name) for name in ("排产APP", "质检APP", "能耗APP", "设备运维APP")]

    [award] = evaluate(POLICY, uscc=make_uscc(), facts=facts)

    assert award.amount_fen == 300 * WAN
    assert "4项 × 100万元 = 400万元，同一年度单个企业最高300万元，核定300万元" in award.explanation.computation
    assert len(award.explanation.facts) == 4


def test_solutions_across_two_years_are_two_awards_each_with_its_own_cap() -> None:
    facts = [
        *(app_solution(f"2022年方案{i}", award_year=2022) for i in range(4)),
        app_solution("2023年方案", award_year=2023, effective=date(2023, 7, 1)),
    ]

    awards = evaluate(POLICY, uscc=make_uscc(), facts=facts)

    assert [(a.award_key, a.amount_fen) for a in awards] == [("2022", 300 * WAN), ("2023", 100 * WAN)]


def test_solutions_of_one_product_series_count_once() -> None:
    first = app_solution("云MES 标准版", series="云MES", effective=date(2022, 3, 1))
    second = app_solution("云MES 旗舰版", series="云MES", effective=date(2022, 9, 1))
    other = app_solution("安全生产APP", series="安全生产")

    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[second, other, first])

    assert award.amount_fen == 200 * WAN
    assert {f.record_id for f in award.explanation.facts} == {first.record_id, other.record_id}
    assert f"记录 {second.record_id} 与已计项目重复" in award.explanation.computation


def test_a_series_already_rewarded_is_not_rewarded_again_the_next_year() -> None:
    facts = [
        app_solution("云MES 1.0", series="云MES", award_year=2022),
        app_solution("云MES 2.0", series="云MES", award_year=2023, effective=date(2023, 6, 1)),
    ]
    awards = evaluate(POLICY, uscc=make_uscc(), facts=facts)
    assert [(a.award_key, a.amount_fen) for a in awards] == [("2022", 100 * WAN)]


def test_solutions_without_a_series_are_told_apart_by_name() -> None:
    facts = [app_solution("排产APP"), app_solution("排产APP"), app_solution("质检APP")]
    [award] = evaluate(POLICY, uscc=make_uscc(), facts=facts)
    assert award.amount_fen == 200 * WAN


def test_solution_awarded_before_the_policy_took_effect_does_not_count() -> None:
    facts = [app_solution("旧方案", award_year=2021, effective=date(2021, 12, 31)), app_solution("新方案")]
    awards = evaluate(POLICY, uscc=make_uscc(), facts=facts)
    assert [(a.award_key, a.amount_fen) for a in awards] == [("2022", 100 * WAN)]


def test_enterprise_registered_outside_zhengzhou_gets_nothing() -> None:
    assert evaluate(POLICY, uscc=make_uscc("110105"), facts=[app_solution("排产APP")]) == []
