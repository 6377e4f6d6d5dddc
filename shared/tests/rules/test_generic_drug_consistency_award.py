"""第一批第7项 仿制药一致性评价: 200万 once per drug variety (通用名称 + 剂型)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from mianshen_shared.rules import Fact, evaluate
from mianshen_shared.testing import make_uscc

from .factories import WAN, fact, policy

pytestmark = pytest.mark.unit

POLICY = policy("07-generic-drug-consistency-evaluation-award.yaml")


def passed(
    generic_name: str,
    dosage_form: str = "片剂",
    *,
    specification: str | None = None,
    approval_no: str = "国药准字H20223001",
    effective: date = date(2022, 6, 1),
) -> Fact:
    attributes: dict[str, Any] = {"generic_name": generic_name, "dosage_form": dosage_form, "approval_no": approval_no}
    if specification is not None:
        attributes["specification"] = specification
    return fact("miit.generic_drug_consistency_passed", attributes, department="gxj", effective=effective)


def test_one_variety_earns_two_million_once() -> None:
    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[passed("阿莫西林", "胶囊")])
    assert (award.award_key, award.amount_fen) == ("品种:阿莫西林|胶囊", 200 * WAN)
    assert "1项 × 200万元 = 200万元，核定200万元" in award.explanation.computation


def test_each_variety_is_its_own_award() -> None:
    awards = evaluate(POLICY, uscc=make_uscc(), facts=[passed("阿莫西林", "胶囊"), passed("二甲双胍", "片剂")])
    assert [(a.award_key, a.amount_fen) for a in awards] == [
        ("品种:二甲双胍|片剂", 200 * WAN),
        ("品种:阿莫西林|胶囊", 200 * WAN),
    ]


def test_other_strengths_of_the_same_variety_are_not_rewarded_again() -> None:
    first = passed("二甲双胍", specification="0.25g", approval_no="国药准字H1", effective=date(2022, 3, 1))
    second = passed("二甲双胍", specification="0.5g", approval_no="国药准字H2", effective=date(2022, 9, 1))

    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[second, first])

    assert award.amount_fen == 200 * WAN
    assert [f.record_id for f in award.explanation.facts] == [first.record_id]
    assert f"记录 {second.record_id} 与已计项目重复" in award.explanation.computation


def test_same_name_in_another_dosage_form_is_another_variety() -> None:
    awards = evaluate(POLICY, uscc=make_uscc(), facts=[passed("布洛芬", "片剂"), passed("布洛芬", "混悬液")])
    assert sum(a.amount_fen for a in awards) == 400 * WAN


def test_evaluation_passed_before_the_policy_took_effect_does_not_count() -> None:
    old = passed("头孢克肟", effective=date(2021, 12, 31))
    assert evaluate(POLICY, uscc=make_uscc(), facts=[old]) == []


def test_enterprise_registered_outside_zhengzhou_gets_nothing() -> None:
    assert evaluate(POLICY, uscc=make_uscc("410305"), facts=[passed("阿莫西林")]) == []
