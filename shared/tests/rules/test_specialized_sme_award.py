"""第一批第2项 专精特新: each title's amount, and 从高、不重复 across titles."""

from __future__ import annotations

from datetime import date

import pytest

from mianshen_shared.rules import evaluate
from mianshen_shared.testing import make_uscc

from .factories import SPECIALIZED_SME, WAN, document, policy, title

pytestmark = pytest.mark.unit

POLICY = policy(SPECIALIZED_SME)


@pytest.mark.parametrize(
    ("title_code", "label", "wan"),
    [
        ("national_little_giant", "国家级专精特新‘小巨人’企业", 200),
        ("provincial_specialized", "省级‘专精特新’企业", 50),
        ("single_champion_enterprise", "‘单项冠军’企业", 500),
        ("single_champion_product", "‘单项冠军’产品", 100),
    ],
)
def test_each_title_earns_the_amount_the_clause_names(title_code: str, label: str, wan: int) -> None:
    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[title(title_code)])
    assert award.amount_fen == wan * WAN
    assert award.award_key == "once"
    assert award.explanation.rule == f"从高不重复：取最高档“{label}”{wan}万元"


def test_enterprise_with_several_titles_gets_only_the_highest() -> None:
    provincial = title("provincial_specialized", effective=date(2022, 3, 1))
    giant = title("national_little_giant", effective=date(2022, 8, 1))
    product = title("single_champion_product", effective=date(2022, 5, 1))

    awards = evaluate(POLICY, uscc=make_uscc(), facts=[provincial, giant, product])

    assert [a.amount_fen for a in awards] == [200 * WAN]
    explanation = awards[0].explanation
    assert explanation.rule == "从高不重复：取最高档“国家级专精特新‘小巨人’企业”200万元"
    assert "只取最高一档，核定200万元" in explanation.computation
    assert [f.record_id for f in explanation.facts] == [giant.record_id, product.record_id, provincial.record_id]


def test_single_champion_enterprise_outranks_the_little_giant_listed_before_it() -> None:
    awards = evaluate(
        POLICY,
        uscc=make_uscc(),
        facts=[title("national_little_giant"), title("single_champion_enterprise")],
    )
    assert [a.amount_fen for a in awards] == [500 * WAN]


def test_titles_in_different_years_are_still_one_award() -> None:
    awards = evaluate(
        POLICY,
        uscc=make_uscc(),
        facts=[
            title("provincial_specialized", effective=date(2022, 2, 1)),
            title("national_little_giant", effective=date(2023, 9, 1)),
        ],
    )
    assert [(a.award_key, a.amount_fen) for a in awards] == [("once", 200 * WAN)]


def test_title_recognised_before_the_policy_took_effect_does_not_count() -> None:
    old_giant = title("national_little_giant", effective=date(2021, 12, 31))
    provincial = title("provincial_specialized", effective=date(2022, 1, 1))

    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[old_giant, provincial])

    assert award.amount_fen == 50 * WAN
    assert [f.record_id for f in award.explanation.facts] == [provincial.record_id]


def test_only_old_titles_mean_no_award() -> None:
    assert evaluate(POLICY, uscc=make_uscc(), facts=[title("national_little_giant", effective=date(2020, 5, 1))]) == []


def test_enterprise_registered_outside_zhengzhou_gets_nothing() -> None:
    assert evaluate(POLICY, uscc=make_uscc("410305"), facts=[title("national_little_giant")]) == []


def test_explanation_names_policy_version_clause_and_facts() -> None:
    giant = title("national_little_giant", record_id="gxj-2022-0042")

    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[giant])

    explanation = award.explanation
    shipped = document(SPECIALIZED_SME)
    assert (explanation.policy_id, explanation.policy_version) == (shipped["id"], shipped["version"])
    assert explanation.legal_basis == (
        "《郑州市人民政府办公厅关于支持“专精特新”中小企业高质量发展的实施意见》（郑政办〔2022〕36号）"
    )
    assert explanation.clause.endswith("同一企业按照“从高、不重复”原则给予奖励。")
    [used] = explanation.facts
    assert (used.record_id, used.department, used.effective_date) == ("gxj-2022-0042", "gxj", date(2022, 6, 1))
    assert used.attributes == giant.attributes


def test_order_of_facts_does_not_change_the_outcome() -> None:
    facts = [title("provincial_specialized"), title("national_little_giant"), title("single_champion_product")]
    uscc = make_uscc()
    assert evaluate(POLICY, uscc=uscc, facts=facts) == evaluate(POLICY, uscc=uscc, facts=facts[::-1])
