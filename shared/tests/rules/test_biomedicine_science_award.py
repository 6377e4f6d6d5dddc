"""第一批第12项 医药项目科学技术奖: 省级500万 / 国家级1000万 per project, highest level only."""

from __future__ import annotations

from datetime import date

import pytest

from mianshen_shared.rules import Fact, evaluate
from mianshen_shared.testing import make_uscc

from .factories import WAN, fact, policy

pytestmark = pytest.mark.unit

POLICY = policy("12-biomedicine-science-award-project-award.yaml")


def science_award(
    project: str,
    level: str,
    *,
    first_unit: bool = True,
    award_year: int = 2022,
    effective: date = date(2022, 6, 1),
) -> Fact:
    return fact(
        "miit.biomedicine_project_science_award",
        {"project_name": project, "award_level": level, "award_year": award_year, "first_completing_unit": first_unit},
        department="gxj",
        effective=effective,
    )


@pytest.mark.parametrize(("level", "wan"), [("provincial", 500), ("national", 1000)])
def test_each_level_earns_the_amount_the_clause_names(level: str, wan: int) -> None:
    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[science_award("新靶标发现", level)])
    assert (award.award_key, award.amount_fen) == ("项目:新靶标发现", wan * WAN)


def test_project_with_provincial_then_national_award_gets_only_the_national_amount() -> None:
    provincial = science_award("细胞治疗药物设计", "provincial", effective=date(2022, 3, 1))
    national = science_award("细胞治疗药物设计", "national", award_year=2023, effective=date(2023, 6, 1))

    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[provincial, national])

    assert award.amount_fen == 1000 * WAN
    assert "只取最高一档，核定1,000万元" in award.explanation.computation


def test_two_projects_are_two_awards() -> None:
    facts = [science_award("分子影像", "provincial"), science_award("手术机器人", "national")]
    awards = evaluate(POLICY, uscc=make_uscc(), facts=facts)
    assert [(a.award_key, a.amount_fen) for a in awards] == [
        ("项目:分子影像", 500 * WAN),
        ("项目:手术机器人", 1000 * WAN),
    ]


def test_an_enterprise_that_is_not_the_first_completing_unit_gets_nothing() -> None:
    assert evaluate(POLICY, uscc=make_uscc(), facts=[science_award("制剂成型", "national", first_unit=False)]) == []


def test_award_before_the_policy_took_effect_does_not_count() -> None:
    old = science_award("新靶标发现", "national", award_year=2021, effective=date(2021, 12, 31))
    assert evaluate(POLICY, uscc=make_uscc(), facts=[old]) == []


def test_enterprise_registered_outside_zhengzhou_gets_nothing() -> None:
    assert evaluate(POLICY, uscc=make_uscc("410305"), facts=[science_award("新靶标发现", "national")]) == []
