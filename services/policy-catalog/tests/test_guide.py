"""办事指南 rendered from every policy document the city has, in HTML and Markdown:
the amounts, the departments and the legal basis come out of the document, the
conditions in words rather than CEL, and a document's text never becomes markup."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from mianshen_shared import city, rules
from mianshen_shared.config import REPO_ROOT
from mianshen_shared.rules.expressions import amount_text
from policy_catalog import guide

from .factories import policy_document

pytestmark = pytest.mark.unit
POLICY_FILES = sorted((REPO_ROOT / "policies" / "zhengzhou").glob("*.yaml"))
EFFECTIVE = date(2026, 12, 1)


def amounts_fen(award: dict[str, Any]) -> list[int]:
    """Every fixed amount an award rule names, components included."""
    found = [t["amount_fen"] for t in award.get("tiers", [])]
    found += [award[k] for k in ("amount_per_item_fen", "cap_per_group_fen", "cap_total_fen") if k in award]
    for component in award.get("components", []):
        found += amounts_fen(component["award"])
    return found


def expressions(award: dict[str, Any]) -> list[str]:
    found = [t["when"] for t in award.get("tiers", [])]
    found += [award[k] for k in ("when", "item_key", "amount_fen") if isinstance(award.get(k), str)]
    for component in award.get("components", []):
        found += expressions(component["award"])
    return found


def both(document: dict[str, Any]) -> tuple[str, str]:
    return (
        guide.render_html(document, version_effective_from=EFFECTIVE),
        guide.render_markdown(document, version_effective_from=EFFECTIVE),
    )


def test_every_city_document_is_covered() -> None:
    assert len(POLICY_FILES) >= 9


@pytest.mark.parametrize("path", POLICY_FILES, ids=[p.stem for p in POLICY_FILES])
def test_the_guide_states_the_amounts_departments_and_basis_of_each_city_policy(path: Path) -> None:
    document = rules.load_policy_file(path)
    the_city = city.current()
    html, markdown = both(document)
    for text in (html, markdown):
        assert document["title"] in text
        assert document["lead_department"] in text
        assert document["legal_basis"]["number"] in text
        for fen in amounts_fen(document["award"]):
            assert amount_text(fen) in text
        for record_type in document["record_types"]:
            assert the_city.record_types[record_type].name in text
            for department in the_city.departments.values():
                if record_type in department.record_types:
                    assert f"{department.name}推送" in text
        assert "免申即享怎么办" in text and "亲清在线" in text and "郑好办" in text
        assert "2026-12-01 起生效" in text
        assert "record.attributes" not in text
        for source in expressions(document["award"]):
            assert source not in text
    for note in document.get("interpretation", []):
        assert str(escape(note)) in html


@pytest.mark.parametrize("path", POLICY_FILES, ids=[p.stem for p in POLICY_FILES])
def test_the_html_guide_is_a_complete_page_that_needs_nothing_from_outside(path: Path) -> None:
    html, _ = both(rules.load_policy_file(path))
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in html and '<meta charset="utf-8">' in html
    assert html.rstrip().endswith("</html>")
    assert "@media print" in html
    for external in ("://", "<link", "<script", "src=", "@import", "url("):
        assert external not in html


def test_a_script_in_a_clause_is_shown_as_text_never_run() -> None:
    document = policy_document()
    document["clause"] += "<script>alert('x')</script>"
    html, markdown = both(document)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script>" not in markdown
    assert r"\<script\>alert('x')\</script\>" in markdown


def test_markdown_markup_in_a_document_stays_literal_text() -> None:
    document = policy_document()
    document["title"] = "奖励 *加粗* [链接](javascript:x) | 表格"
    _, markdown = both(document)
    assert r"奖励 \*加粗\* \[链接\](javascript:x) \| 表格" in markdown


def test_a_non_cash_benefit_says_who_grants_it() -> None:
    document = policy_document()
    document["benefit"] = {"kind": "rent_reduction", "description": "减免3个月租金", "executed_by": "国有房屋出租主体"}
    for text in both(document):
        assert "租金减免" in text and "减免3个月租金" in text
        assert "由国有房屋出租主体实施" in text
        assert "由财政直接拨付" not in text


def test_a_cash_award_is_paid_by_the_finance_system() -> None:
    for text in both(policy_document()):
        assert "资金奖励" in text and "由财政直接拨付至企业确认的银行账户" in text


def test_who_qualifies_names_sizes_kinds_and_sectors_in_chinese() -> None:
    document = policy_document()
    document["target"] |= {
        "enterprise_sizes": ["small", "micro"],
        "enterprise_kinds": ["enterprise", "individual_business"],
        "sectors": ["住宿和餐饮业"],
    }
    for text in both(document):
        assert "在郑州市登记注册" in text and "4101" in text
        assert "小型企业、微型企业" in text
        assert "企业、个体工商户" in text
        assert "住宿和餐饮业" in text


def test_tiers_are_listed_by_their_labels_with_amounts_in_wan_yuan() -> None:
    html, markdown = both(rules.load_policy_file(REPO_ROOT / "policies/zhengzhou/02-specialized-sme-award.yaml"))
    assert '<td>国家级专精特新‘小巨人’企业</td><td class="amount">200万元</td>' in html
    assert "- 国家级专精特新‘小巨人’企业：200万元" in markdown
    assert "同时符合多档的，按最高一档给予" in markdown


def test_a_formula_policy_states_its_rule_and_parameters() -> None:
    path = REPO_ROOT / "policies/zhengzhou/23-unemployment-insurance-job-retention-refund.yaml"
    document = rules.load_policy_file(path)
    _, markdown = both(document)
    assert f"按规则核定：{document['award']['rule']}" in markdown
    for spec in document["parameters"].values():
        assert f"：{spec['value']}{spec.get('unit', '')}" in markdown


def test_a_per_item_policy_states_the_amount_per_item_and_its_cap() -> None:
    _, markdown = both(rules.load_policy_file(REPO_ROOT / "policies/zhengzhou/09-industrial-app-solution-award.yaml"))
    assert "- 每项：100万元" in markdown
    assert "- 同一年度单个企业最高：300万元" in markdown
