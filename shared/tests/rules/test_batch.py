"""The batch evaluator agrees with `evaluate`, to the fen, on generated enterprises
(bench/population.py), for every shipped policy document, histories included; and
on records that break what the documents expect, where it must hand the
enterprise to `evaluate` (and raise what `evaluate` raises)."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import random
import sys
from collections.abc import Callable, Sequence
from datetime import date
from types import ModuleType
from typing import Any

import pytest

from mianshen_shared import uscc
from mianshen_shared.config import REPO_ROOT
from mianshen_shared.rules import CompiledPolicy, Fact, PriorAward, compile_policy, evaluate
from mianshen_shared.rules.batch import BatchStats, Population, evaluate_population

from .factories import JOB_RETENTION, POLICY_DIR, SPECIALIZED_SME, document, policy

pytestmark = pytest.mark.unit

POLICY_FILES = sorted(p.name for p in POLICY_DIR.glob("*.yaml"))
ENTERPRISES = 20_000


def _population_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_population", REPO_ROOT / "bench" / "population.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def policies() -> dict[str, CompiledPolicy]:
    return {name: policy(name) for name in POLICY_FILES}


@pytest.fixture(scope="module")
def population(policies: dict[str, CompiledPolicy]) -> Population:
    return _population_module().generate(ENTERPRISES, seed=11, policies=list(policies.values()))


def engine_awards(p: CompiledPolicy, population: Population, owner: int) -> list[tuple[str, int]]:
    awards = evaluate(
        p,
        uscc=population.uscc[owner],
        facts=population.facts_of(owner),
        history=population.history_of(p.id, owner),
    )
    return [(a.award_key, a.amount_fen) for a in awards]


def owners_with_records(p: CompiledPolicy, population: Population) -> list[int]:
    return sorted(
        {o for t in p.input_record_types if t in population.tables for o in population.tables[t].owner.tolist()}
    )


@pytest.mark.parametrize("file_name", POLICY_FILES)
def test_batch_agrees_with_evaluate_to_the_fen_for_every_enterprise_with_records(
    file_name: str, policies: dict[str, CompiledPolicy], population: Population
) -> None:
    p = policies[file_name]
    got = evaluate_population(p, population)
    owners = owners_with_records(p, population)
    assert owners, "the generated population should hold records this policy reads"
    for owner in owners:
        want = engine_awards(p, population, owner)
        assert [tuple(a) for a in got.pop(population.uscc[owner], [])] == want, population.facts_of(owner)
    assert got == {}, "enterprises without a record the policy reads get nothing"


def test_the_generated_sample_exercises_awards_and_histories(
    policies: dict[str, CompiledPolicy], population: Population
) -> None:
    awarded = {name: len(evaluate_population(p, population)) for name, p in policies.items()}
    assert sum(awarded.values()) > 1000
    paid = sum(len(population.history.get(p.id, {})) for p in policies.values())
    assert paid > 100
    top_ups = [a for p in policies.values() for awards in population.history.get(p.id, {}).values() for a in awards]
    assert any("#" not in a.award_key for a in top_ups)


@pytest.mark.parametrize("file_name", POLICY_FILES)
def test_every_shipped_document_is_evaluated_column_wise(
    file_name: str, policies: dict[str, CompiledPolicy], population: Population
) -> None:
    # Not a matter of correctness (delegation agrees too) but of the 10 s budget for
    # all policies over a million enterprises: a document using CEL outside the
    # batch subset is evaluated enterprise by enterprise.
    stats = BatchStats()
    evaluate_population(policies[file_name], population, stats=stats)
    assert stats.vectorised, stats.reason
    assert stats.enterprises_delegated == 0


# --- records that break what the documents expect ------------------------------------------


def engine_outcome(p: CompiledPolicy, code: str, facts: list[Fact], history: Sequence[PriorAward] = ()) -> Any:
    """The awards `evaluate` gives, or the name of what it raises."""
    try:
        return [(a.award_key, a.amount_fen) for a in evaluate(p, uscc=code, facts=facts, history=history)]
    except Exception as exc:
        return type(exc).__name__


def batch_outcome(p: CompiledPolicy, code: str, facts: list[Fact], history: Sequence[PriorAward] = ()) -> Any:
    """The same from a population of that one enterprise."""
    try:
        alone = Population.from_enterprises([(code, facts, {p.id: history})])
        return [tuple(a) for a in evaluate_population(p, alone).get(code, [])]
    except Exception as exc:
        return type(exc).__name__


MUTATIONS: list[Callable[[Any], Any]] = [
    lambda v: None,
    lambda v: "x",
    lambda v: 2**62,
    lambda v: -1,
    lambda v: 0,
    lambda v: True,
    lambda v: 1.5,
    lambda v: "",
]


@pytest.mark.parametrize("file_name", POLICY_FILES)
def test_odd_records_are_left_to_evaluate_and_agree_with_it(
    file_name: str, policies: dict[str, CompiledPolicy], population: Population
) -> None:
    p = policies[file_name]
    rng = random.Random(file_name)
    owners = owners_with_records(p, population)
    for owner in rng.sample(owners, min(12, len(owners))):
        facts = population.facts_of(owner, p.input_record_types)
        victim = rng.randrange(len(facts))
        attributes = copy.deepcopy(facts[victim].attributes)
        name = rng.choice(sorted(attributes))
        if rng.random() < 0.2:
            del attributes[name]
        else:
            attributes[name] = rng.choice(MUTATIONS)(attributes[name])
        facts[victim] = dataclasses.replace(facts[victim], attributes=attributes)
        history = population.history_of(p.id, owner)
        code = population.uscc[owner]
        got, want = batch_outcome(p, code, facts, history), engine_outcome(p, code, facts, history)
        assert got == want, (name, attributes)


# --- CEL arithmetic as the engine's CEL does it ----------------------------------------------

CODE = uscc.build("9", "1", "410105", "MA0CAE01")


def formula_policy(amount: str, when: str = "true") -> CompiledPolicy:
    doc = document(JOB_RETENTION)
    doc["award"] = {"mode": "formula", "rule": "测试", "when": when, "amount_fen": amount}
    return compile_policy(doc)


def annual(a: int, b: int, *, record_id: str = "r-1") -> Fact:
    return Fact(record_id, "rsj", "hrss.unemployment_insurance_annual", date(2022, 6, 1), {"a": a, "b": b})


@pytest.mark.parametrize(
    "amount",
    [
        "record.attributes.a / record.attributes.b + 100",
        "record.attributes.a % record.attributes.b + 100",
        "record.attributes.a * record.attributes.b",
        "record.attributes.a - record.attributes.b",
        "record.attributes.a > record.attributes.b ? record.attributes.a : record.attributes.b",
        'int(string(record.attributes.a) == "7") + 0',
    ],
)
def test_integer_arithmetic_matches_cel_including_signs_zero_and_overflow(amount: str) -> None:
    p = formula_policy(amount)
    values = [-9, -7, -1, 0, 1, 2, 7, 9, 3_000_000_000, -(2**63), 2**63 - 1]
    for a in values:
        for b in values:
            fact = annual(a, b)
            got, want = batch_outcome(p, CODE, [fact]), engine_outcome(p, CODE, [fact])
            assert got == want, (a, b)


def test_a_later_record_of_a_formula_group_supersedes_an_earlier_one_whatever_its_id() -> None:
    p = formula_policy("record.attributes.a")
    facts = [annual(5, 0, record_id="b"), annual(9, 0, record_id="a")]  # same day: the id decides
    alone = Population.from_enterprises([(CODE, facts, {})])
    assert [tuple(x) for x in evaluate_population(p, alone)[CODE]] == [("once", 5)]
    assert [(x.award_key, x.amount_fen) for x in evaluate(p, uscc=CODE, facts=facts)] == [("once", 5)]


def test_once_history_stops_a_second_award_and_outside_the_city_nothing_is_paid() -> None:
    p = policy(SPECIALIZED_SME)
    title = Fact(
        "t-1",
        "gxj",
        "miit.sme_title_recognized",
        date(2022, 6, 1),
        {"title": "national_little_giant", "document_no": "1"},
    )
    paid = PriorAward("once", 50_000_000, date(2022, 3, 1))
    outside = uscc.build("9", "1", "410302", "MA0CAE02")
    population = Population.from_enterprises(
        [
            (CODE, [title], {p.id: [paid]}),
            (outside, [title], {}),
            (uscc.build("9", "1", "410105", "MA0CAE03"), [title], {}),
        ]
    )
    got = evaluate_population(p, population)
    assert list(got.values()) == [[("once", 200_000_000)]]
    assert CODE not in got and outside not in got


def test_a_population_refuses_an_invalid_code_as_evaluate_does() -> None:
    with pytest.raises(uscc.InvalidUSCC):
        Population.from_enterprises([(CODE[:-1] + ("0" if CODE[-1] != "0" else "1"), [], {})])
