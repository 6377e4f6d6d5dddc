"""Generic engine behaviour that no single shipped policy exercises: the money
guards of formula mode, failures that must surface, and target filters."""

from __future__ import annotations

import pytest

from mianshen_shared.rules import PolicyEvaluationError, compile_policy, evaluate
from mianshen_shared.testing import make_uscc
from mianshen_shared.uscc import InvalidUSCC

from .factories import INDUSTRIAL_APP, WAN, app_solution, document, formula_document, insurance, title

pytestmark = pytest.mark.unit


def test_formula_yielding_a_fraction_is_an_error_not_a_rounded_amount() -> None:
    policy = compile_policy(formula_document(amount_fen="double(record.attributes.paid_fen) * 0.9"))
    with pytest.raises(PolicyEvaluationError, match=r"award\.amount_fen.*小数"):
        evaluate(policy, uscc=make_uscc(), facts=[insurance(paid_fen=101)])


def test_formula_rounding_down_explicitly_is_accepted() -> None:
    policy = compile_policy(formula_document(amount_fen="int(double(record.attributes.paid_fen) * 0.9)"))
    [award] = evaluate(policy, uscc=make_uscc(), facts=[insurance(paid_fen=101)])
    assert award.amount_fen == 90


def test_formula_yielding_a_negative_amount_is_an_error() -> None:
    policy = compile_policy(formula_document(amount_fen="record.attributes.paid_fen - 1000000000"))
    with pytest.raises(PolicyEvaluationError, match="负数"):
        evaluate(policy, uscc=make_uscc(), facts=[insurance(paid_fen=100)])


def test_condition_reading_a_missing_attribute_names_the_record() -> None:
    policy = compile_policy(formula_document(when="record.attributes.arrears == false"))
    fact = insurance(record_id="rsj-without-arrears")
    with pytest.raises(PolicyEvaluationError, match=r"award\.when 对记录 rsj-without-arrears"):
        evaluate(policy, uscc=make_uscc(), facts=[fact])


def test_condition_that_is_not_a_boolean_is_an_error() -> None:
    policy = compile_policy(formula_document(when="record.attributes.paid_fen"))
    with pytest.raises(PolicyEvaluationError, match="布尔值"):
        evaluate(policy, uscc=make_uscc(), facts=[insurance()])


def test_formula_without_group_by_gives_one_award_keyed_once() -> None:
    policy = compile_policy(formula_document(amount_fen="record.attributes.paid_fen / 2"))
    awards = evaluate(policy, uscc=make_uscc(), facts=[insurance(paid_fen=1000)])
    assert [(a.award_key, a.amount_fen) for a in awards] == [("once", 500)]
    assert "按公式 record.attributes.paid_fen / 2 计算" in awards[0].explanation.computation


def test_target_enterprise_sizes_ignore_records_of_other_sizes() -> None:
    doc = formula_document(amount_fen="record.attributes.paid_fen")
    doc["target"]["enterprise_sizes"] = ["medium", "small", "micro"]
    policy = compile_policy(doc)
    uscc = make_uscc()
    assert evaluate(policy, uscc=uscc, facts=[insurance(size="large", paid_fen=1000)]) == []
    assert [a.amount_fen for a in evaluate(policy, uscc=uscc, facts=[insurance(size="micro", paid_fen=1000)])] == [1000]


def test_per_item_without_cap_sums_every_item() -> None:
    doc = document(INDUSTRIAL_APP)
    del doc["award"]["cap_per_group_fen"]
    policy = compile_policy(doc)
    facts = [app_solution(f"方案{i}") for i in range(5)]
    [award] = evaluate(policy, uscc=make_uscc(), facts=facts)
    assert award.amount_fen == 500 * WAN
    assert award.explanation.computation.endswith("5项 × 100万元 = 500万元，核定500万元")


def test_facts_of_record_types_the_policy_does_not_read_are_ignored() -> None:
    policy = compile_policy(document(INDUSTRIAL_APP))
    assert evaluate(policy, uscc=make_uscc(), facts=[title("national_little_giant"), insurance()]) == []


def test_malformed_uscc_is_refused() -> None:
    policy = compile_policy(document(INDUSTRIAL_APP))
    with pytest.raises(InvalidUSCC):
        evaluate(policy, uscc="91410105MA00000000", facts=[app_solution("排产APP")])
