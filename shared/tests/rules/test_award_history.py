"""What a policy already paid: 级差/差额 (top_up), 首次/不重复 (once), lifetime caps,
components, and the property that paying what the engine says never pays twice."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mianshen_shared.rules import Award, CompiledPolicy, Fact, PriorAward, assess, compile_policy, evaluate
from mianshen_shared.rules.engine import case_uscc

from .factories import INDUSTRIAL_APP, SPECIALIZED_SME, WAN, app_solution, document, title

pytestmark = pytest.mark.unit

TITLES = ["provincial_specialized", "single_champion_product", "national_little_giant", "single_champion_enterprise"]
TIER_FEN = {
    "provincial_specialized": 50 * WAN,
    "single_champion_product": 100 * WAN,
    "national_little_giant": 200 * WAN,
    "single_champion_enterprise": 500 * WAN,
}


def tiered(prior_awards: str) -> CompiledPolicy:
    doc = document(SPECIALIZED_SME)
    doc["award"]["prior_awards"] = prior_awards
    doc.pop("cases")
    return compile_policy(doc)


def per_item(**award: Any) -> CompiledPolicy:
    doc = document(INDUSTRIAL_APP)
    doc["award"].update(award)
    doc.pop("cases", None)
    return compile_policy(doc)


def paid(award: Award, on: date = date(2022, 9, 30)) -> PriorAward:
    return PriorAward(award_key=award.award_key, amount_fen=award.amount_fen, paid_on=on)


def amounts(awards: list[Award]) -> dict[str, int]:
    return {a.award_key: a.amount_fen for a in awards}


def test_upgrade_pays_only_the_difference_under_a_new_key() -> None:
    policy = tiered("top_up")
    uscc = case_uscc(policy)
    first = evaluate(policy, uscc=uscc, facts=[title("provincial_specialized")])
    assert amounts(first) == {"once": 50 * WAN}

    facts = [title("provincial_specialized"), title("national_little_giant", effective=date(2023, 5, 1))]
    upgrade = evaluate(policy, uscc=uscc, facts=facts, history=[paid(first[0])])
    assert amounts(upgrade) == {"once#2": 150 * WAN}
    assert "200万元 − 本政策已奖励50万元 = 150万元" in upgrade[0].explanation.computation
    assert any("按差额奖励" in c.text for c in upgrade[0].explanation.conditions)


def test_an_upgrade_before_payment_raises_the_same_award() -> None:
    policy = tiered("once")
    facts = [title("provincial_specialized"), title("national_little_giant", effective=date(2023, 5, 1))]
    assert amounts(evaluate(policy, uscc=case_uscc(policy), facts=facts)) == {"once": 200 * WAN}


def test_no_repeat_pays_nothing_once_the_group_was_paid() -> None:
    policy = tiered("once")
    facts = [title("provincial_specialized"), title("national_little_giant", effective=date(2023, 5, 1))]
    history = [PriorAward("once", 50 * WAN, date(2022, 9, 30))]
    assert evaluate(policy, uscc=case_uscc(policy), facts=facts, history=history) == []
    why = assess(policy, uscc=case_uscc(policy), facts=facts, history=history)
    assert not why.eligible
    assert any("不重复" in c.text and c.met is False for c in why.checks)


def test_third_tranche_follows_the_highest_paid_tranche_number() -> None:
    policy = tiered("top_up")
    history = [PriorAward("once", 50 * WAN, date(2022, 3, 1)), PriorAward("once#2", 50 * WAN, date(2022, 9, 1))]
    awards = evaluate(policy, uscc=case_uscc(policy), facts=[title("single_champion_enterprise")], history=history)
    assert amounts(awards) == {"once#3": 400 * WAN}


def test_a_paid_amount_above_the_current_award_pays_nothing_and_says_so() -> None:
    policy = tiered("top_up")
    history = [PriorAward("once", 200 * WAN, date(2022, 3, 1))]
    facts = [title("provincial_specialized")]
    assert evaluate(policy, uscc=case_uscc(policy), facts=facts, history=history) == []
    why = assess(policy, uscc=case_uscc(policy), facts=facts, history=history)
    assert any("无差额可补" in c.text for c in why.checks)


def test_new_item_in_a_paid_year_is_topped_up_within_the_yearly_cap() -> None:
    policy = per_item()
    uscc = case_uscc(policy)
    two = [app_solution("甲方案"), app_solution("乙方案")]
    first = evaluate(policy, uscc=uscc, facts=two)
    assert amounts(first) == {"2022": 200 * WAN}
    more = [*two, app_solution("丙方案"), app_solution("丁方案")]
    assert amounts(evaluate(policy, uscc=uscc, facts=more, history=[paid(first[0])])) == {"2022#2": 100 * WAN}


def test_lifetime_cap_counts_what_was_already_paid() -> None:
    policy = per_item(cap_total_fen=300 * WAN, cap_total_label="单一企业奖励不超过")
    uscc = case_uscc(policy)
    history = [PriorAward("2022", 200 * WAN, date(2022, 12, 1))]
    facts = [app_solution(f"方案{i}", award_year=2023) for i in range(3)]
    awards = evaluate(policy, uscc=uscc, facts=facts, history=history)
    assert amounts(awards) == {"2023": 100 * WAN}
    assert "单一企业奖励不超过300万元（本政策此前已奖励200万元），本项核定100万元" in awards[0].explanation.computation


def test_components_keep_their_own_keys_and_history() -> None:
    doc = document(SPECIALIZED_SME)
    doc.pop("cases")
    tiers = doc["award"]
    doc["award"] = {
        "mode": "components",
        "rule": "两项奖励",
        "components": [
            {"key": "title", "label": "称号奖励", "award": {**tiers, "prior_awards": "once"}},
            {
                "key": "bonus",
                "label": "额外奖励",
                "award": {
                    "mode": "formula",
                    "rule": "小巨人另奖10万元",
                    "when": 'facts.exists(f, f.attributes.title == "national_little_giant")',
                    "amount_fen": str(10 * WAN),
                },
            },
        ],
    }
    policy = compile_policy(doc)
    uscc = case_uscc(policy)
    facts = [title("national_little_giant")]
    assert amounts(evaluate(policy, uscc=uscc, facts=facts)) == {"bonus:once": 10 * WAN, "title:once": 200 * WAN}
    history = [PriorAward("title:once", 200 * WAN, date(2022, 9, 1))]
    assert amounts(evaluate(policy, uscc=uscc, facts=facts, history=history)) == {"bonus:once": 10 * WAN}


# --- properties --------------------------------------------------------------------

title_sequences = st.lists(st.sampled_from(TITLES), min_size=1, max_size=6)
payment_gaps = st.lists(st.booleans(), min_size=6, max_size=6)


def _pay_as_titles_arrive(policy: CompiledPolicy, titles: list[str], pays: list[bool]) -> list[PriorAward]:
    """Titles arrive one by one; after each, the finance system pays (or not yet) what is due."""
    uscc = case_uscc(policy)
    facts: list[Fact] = []
    history: list[PriorAward] = []
    day = date(2022, 2, 1)
    for i, name in enumerate(titles):
        day += timedelta(days=30)
        facts.append(title(name, effective=day, record_id=f"t{i}"))
        if pays[i] or i == len(titles) - 1:
            history += [paid(a, day) for a in evaluate(policy, uscc=uscc, facts=facts, history=history)]
    return history


@settings(max_examples=60, deadline=None)
@given(titles=title_sequences, pays=payment_gaps)
def test_cumulative_top_up_awards_reach_but_never_exceed_the_top_tier(titles: list[str], pays: list[bool]) -> None:
    history = _pay_as_titles_arrive(tiered("top_up"), titles, pays)
    assert sum(a.amount_fen for a in history) == max(TIER_FEN[t] for t in titles)


@settings(max_examples=60, deadline=None)
@given(titles=title_sequences, pays=payment_gaps)
def test_no_repeat_awards_are_paid_once_and_never_above_the_top_tier(titles: list[str], pays: list[bool]) -> None:
    history = _pay_as_titles_arrive(tiered("once"), titles, pays)
    assert len(history) == 1
    assert history[0].amount_fen <= max(TIER_FEN[t] for t in titles)


@settings(max_examples=60, deadline=None)
@given(
    years=st.lists(st.integers(min_value=2022, max_value=2025), min_size=1, max_size=12),
    pays=st.lists(st.booleans(), min_size=12, max_size=12),
    cap_wan=st.sampled_from([100, 250, 300, 700]),
)
def test_caps_are_never_exceeded(years: list[int], pays: list[bool], cap_wan: int) -> None:
    policy = per_item(cap_total_fen=cap_wan * WAN)
    uscc = case_uscc(policy)
    facts: list[Fact] = []
    history: list[PriorAward] = []
    for i, year in enumerate(years):
        facts.append(app_solution(f"方案{i}", award_year=year, effective=date(2022, 6, 1) + timedelta(days=i)))
        if pays[i]:
            history += [paid(a) for a in evaluate(policy, uscc=uscc, facts=facts, history=history)]
    per_year: dict[str, int] = {}
    for a in history:
        year = a.award_key.split("#")[0]
        per_year[year] = per_year.get(year, 0) + a.amount_fen
    assert sum(per_year.values()) <= cap_wan * WAN
    assert all(total <= 300 * WAN for total in per_year.values())  # 同一年度单个企业最高300万元


@settings(max_examples=60, deadline=None)
@given(titles=title_sequences, pays=payment_gaps, prior=st.sampled_from(["top_up", "once"]))
def test_re_evaluation_is_idempotent_and_paying_it_leaves_nothing_due(
    titles: list[str], pays: list[bool], prior: str
) -> None:
    policy = tiered(prior)
    uscc = case_uscc(policy)
    history = _pay_as_titles_arrive(policy, titles, pays)
    facts = [title(name, effective=date(2022, 3, 1), record_id=f"t{i}") for i, name in enumerate(titles)]
    first = evaluate(policy, uscc=uscc, facts=facts, history=history)
    again = evaluate(policy, uscc=uscc, facts=list(reversed(facts)), history=copy.copy(history))
    assert amounts(first) == amounts(again)
    settled = history + [paid(a) for a in first]
    assert evaluate(policy, uscc=uscc, facts=facts, history=settled) == []
