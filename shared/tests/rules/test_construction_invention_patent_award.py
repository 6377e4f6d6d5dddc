"""第一批第21项 建筑企业国家发明专利: 2万 once per enterprise, however many patents."""

from __future__ import annotations

from datetime import date
from itertools import count

import pytest

from mianshen_shared.rules import Fact, evaluate
from mianshen_shared.testing import make_uscc

from .factories import WAN, fact, policy

pytestmark = pytest.mark.unit

POLICY = policy("21-construction-invention-patent-award.yaml")

_serials = count(100_000)


def patent(kind: str = "invention", *, effective: date = date(2022, 6, 1)) -> Fact:
    return fact(
        "construction.enterprise_patent_granted",
        {
            "patent_no": f"ZL202210{next(_serials):06d}.X",
            "patent_type": kind,
            "patent_title": "一种装配式混凝土构件连接节点",
            "qualification_certificate_no": "D241000001",
        },
        department="cjj",
        effective=effective,
    )


def test_construction_enterprise_with_an_invention_patent_earns_twenty_thousand() -> None:
    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[patent()])
    assert (award.award_key, award.amount_fen) == ("once", 2 * WAN)


def test_several_invention_patents_are_still_one_award() -> None:
    facts = [patent(), patent(), patent(effective=date(2023, 3, 1))]

    [award] = evaluate(POLICY, uscc=make_uscc(), facts=facts)

    assert award.amount_fen == 2 * WAN
    assert len(award.explanation.facts) == 3


@pytest.mark.parametrize("kind", ["utility_model", "design"])
def test_patents_that_are_not_inventions_earn_nothing(kind: str) -> None:
    assert evaluate(POLICY, uscc=make_uscc(), facts=[patent(kind)]) == []


def test_patent_granted_before_the_policy_took_effect_does_not_count() -> None:
    assert evaluate(POLICY, uscc=make_uscc(), facts=[patent(effective=date(2021, 12, 31))]) == []


def test_enterprise_registered_outside_zhengzhou_gets_nothing() -> None:
    assert evaluate(POLICY, uscc=make_uscc("110105"), facts=[patent()]) == []
