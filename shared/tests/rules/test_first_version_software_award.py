"""第一批第16项 河南省“首版次”软件产品: 10万 per product, each product once."""

from __future__ import annotations

from datetime import date

import pytest

from mianshen_shared.rules import Fact, evaluate
from mianshen_shared.testing import make_uscc

from .factories import WAN, fact, policy

pytestmark = pytest.mark.unit

POLICY = policy("16-first-version-software-product-award.yaml")


def software(product: str, *, version: str = "V1.0", year: int = 2022, effective: date = date(2022, 6, 1)) -> Fact:
    return fact(
        "miit.first_version_software_recognized",
        {"product_name": product, "product_version": version, "recognition_year": year},
        department="gxj",
        effective=effective,
    )


def test_one_product_earns_one_hundred_thousand() -> None:
    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[software("智慧工地管理系统")])
    assert (award.award_key, award.amount_fen) == ("产品:智慧工地管理系统", 10 * WAN)


def test_every_product_is_rewarded_without_a_cap() -> None:
    facts = [software(f"软件产品{i}") for i in range(35)]
    awards = evaluate(POLICY, uscc=make_uscc(), facts=facts)
    assert len(awards) == 35
    assert sum(a.amount_fen for a in awards) == 350 * WAN


def test_another_version_of_the_same_product_is_not_rewarded_again() -> None:
    first = software("工业数据中台", version="V1.0", effective=date(2022, 3, 1))
    later = software("工业数据中台", version="V2.0", year=2023, effective=date(2023, 4, 1))

    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[later, first])

    assert award.amount_fen == 10 * WAN
    assert [f.record_id for f in award.explanation.facts] == [first.record_id]
    assert f"记录 {later.record_id} 与已计项目重复" in award.explanation.computation


def test_product_recognised_before_the_policy_took_effect_does_not_count() -> None:
    facts = [software("旧产品", year=2021, effective=date(2021, 12, 31)), software("新产品")]
    awards = evaluate(POLICY, uscc=make_uscc(), facts=facts)
    assert [a.award_key for a in awards] == ["产品:新产品"]


def test_enterprise_registered_outside_zhengzhou_gets_nothing() -> None:
    assert evaluate(POLICY, uscc=make_uscc("110105"), facts=[software("智慧工地管理系统")]) == []
