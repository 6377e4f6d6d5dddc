"""The test cases written inside policy documents: every shipped document carries
at least three and passes them; a document whose cases fail, or that is ambiguous,
is refused with the case and the reason."""

from __future__ import annotations

from typing import Any

import pytest

from mianshen_shared.rules import compile_policy, run_cases
from mianshen_shared.rules.engine import MIN_CASES

from .factories import POLICY_DIR, SPECIALIZED_SME, WAN, document

pytestmark = pytest.mark.unit

POLICY_FILES = sorted(p.name for p in POLICY_DIR.glob("*.yaml"))


@pytest.mark.parametrize("file_name", POLICY_FILES)
def test_every_zhengzhou_policy_passes_the_cases_written_in_it(file_name: str) -> None:
    doc = document(file_name)
    assert len(doc.get("cases", [])) >= MIN_CASES, f"{file_name} 的测试用例不足{MIN_CASES}个"
    assert run_cases(compile_policy(doc)) == []


def test_all_twenty_five_first_batch_policies_are_encoded() -> None:
    numbers = sorted(document(name)["list_no"] for name in POLICY_FILES)
    assert numbers == list(range(1, 26))


def _sme(**changes: Any) -> dict[str, Any]:
    doc = document(SPECIALIZED_SME)
    doc.update(changes)
    return doc


def _case(name: str, title: str, expect: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "facts": [
            {
                "record_type": "miit.sme_title_recognized",
                "effective_date": "2022-06-01",
                "attributes": {"title": title, "document_no": "工信部企业函〔2022〕1号"},
            }
        ],
        "expect": expect,
    }


def test_a_case_whose_expectation_differs_names_the_case_and_both_amounts() -> None:
    doc = _sme()
    doc["cases"][0]["expect"] = [{"award_key": "once", "amount_fen": 100 * WAN}]
    failures = run_cases(compile_policy(doc))
    assert failures == [
        "cases[0]（新认定为国家级专精特新“小巨人”企业，奖励200万元）: 预期once 100万元，实际once 200万元"
    ]


def test_fewer_than_three_cases_cannot_be_published() -> None:
    doc = _sme()
    doc["cases"] = doc["cases"][:2]
    assert run_cases(compile_policy(doc)) == ["cases: 至少应有3个测试用例（符合、不符合、边界情形），现有2个"]


def test_an_expression_that_fails_at_run_time_is_caught_by_the_cases() -> None:
    doc = _sme()
    doc["award"]["tiers"][0]["when"] = "record.attributes.level == 'national'"
    failures = run_cases(compile_policy(doc))
    assert failures
    assert all("运行出错" in f and "award.tiers[0].when" in f for f in failures)


def test_tiers_that_one_record_can_both_match_are_refused_as_overlapping() -> None:
    doc = _sme()
    doc["award"]["tiers"][1]["when"] = 'record.attributes.title in ["provincial_specialized", "national_little_giant"]'
    failures = run_cases(compile_policy(doc))
    assert any("同时符合多个档次" in f and "档次重叠" in f for f in failures)


def test_identical_tier_conditions_are_refused_at_compile_time() -> None:
    from mianshen_shared.rules import PolicyInvalid

    doc = _sme()
    doc["award"]["tiers"][3]["when"] = doc["award"]["tiers"][0]["when"]
    with pytest.raises(PolicyInvalid) as caught:
        compile_policy(doc)
    assert any(e.startswith("award.tiers[3].when: 档次重叠") for e in caught.value.errors)


def test_case_attributes_the_city_refuses_are_reported_not_run() -> None:
    doc = _sme(cases=[_case("错误的称号", "city_champion", []), *document(SPECIALIZED_SME)["cases"]])
    failures = run_cases(compile_policy(doc))
    assert len(failures) == 1
    assert failures[0].startswith("cases[0]（错误的称号）.facts[0].attributes: ")
