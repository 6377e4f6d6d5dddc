"""Policy documents: every shipped one compiles; bad ones are refused with the
path of each fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mianshen_shared.rules import PolicyInvalid, compile_policy, load_policy_dir, load_policy_file

from .factories import POLICY_DIR, SPECIALIZED_SME, document

pytestmark = pytest.mark.unit

POLICY_FILES = sorted(p.name for p in POLICY_DIR.glob("*.yaml"))


def errors_of(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(PolicyInvalid) as caught:
        compile_policy(doc)
    return caught.value.errors


@pytest.mark.parametrize("file_name", POLICY_FILES)
def test_every_zhengzhou_policy_compiles(file_name: str) -> None:
    doc = document(file_name)
    compiled = compile_policy(doc)
    assert compiled.id == doc["id"]
    assert file_name.startswith(f"{doc['list_no']:02d}-")
    assert compiled.input_record_types


def test_zhengzhou_policies_have_distinct_ids() -> None:
    ids = [doc["id"] for doc in load_policy_dir(POLICY_DIR)]
    assert len(ids) == len(POLICY_FILES) >= 3
    assert len(set(ids)) == len(ids)


def test_loaded_documents_carry_dates_as_iso_strings_and_serialise_to_json() -> None:
    doc = document(SPECIALIZED_SME)
    assert doc["effective"]["from"] == "2022-01-01"
    assert json.loads(json.dumps(doc, ensure_ascii=False)) == doc


def test_compiled_policy_exposes_its_header() -> None:
    compiled = compile_policy(document(SPECIALIZED_SME))
    assert (compiled.version, compiled.benefit_kind) == (document(SPECIALIZED_SME)["version"], "cash_award")
    assert compiled.input_record_types == frozenset({"miit.sme_title_recognized"})


def test_changing_the_returned_document_does_not_change_the_policy() -> None:
    compiled = compile_policy(document(SPECIALIZED_SME))
    compiled.document["award"]["tiers"].clear()
    assert len(compiled.document["award"]["tiers"]) == 4
    with pytest.raises(AttributeError):
        compiled.version = 2  # type: ignore[misc]


def test_document_without_clause_is_refused() -> None:
    doc = document(SPECIALIZED_SME)
    del doc["clause"]
    assert errors_of(doc) == ["clause: 缺少必填字段"]


def test_unknown_award_mode_is_refused() -> None:
    doc = document(SPECIALIZED_SME)
    doc["award"]["mode"] = "lottery"
    [error] = errors_of(doc)
    assert error.startswith("award.mode: 取值 'lottery' 不在允许范围内")


def test_cel_syntax_error_is_refused_with_its_path() -> None:
    doc = document(SPECIALIZED_SME)
    doc["award"]["tiers"][1]["when"] = 'record.attributes.title == "provincial_specialized" &&'
    [error] = errors_of(doc)
    assert error.startswith("award.tiers[1].when: CEL 表达式无法编译")


def test_record_type_the_city_does_not_declare_is_refused() -> None:
    doc = document(SPECIALIZED_SME)
    doc["record_types"] = ["miit.sme_title_recognised"]
    doc.pop("cases")  # their facts would be of a type the policy no longer reads
    assert errors_of(doc) == ["record_types[0]: 记录类型“miit.sme_title_recognised”未在郑州市城市配置中声明"]


def test_unknown_field_is_refused() -> None:
    doc = document(SPECIALIZED_SME)
    doc["award"]["tiers"][0]["amount_yuan"] = 2_000_000
    assert errors_of(doc) == ["award.tiers[0].amount_yuan: 不允许的字段"]


def test_fractional_amount_is_refused() -> None:
    doc = document(SPECIALIZED_SME)
    doc["award"]["tiers"][0]["amount_fen"] = 199.5
    [error] = errors_of(doc)
    assert error.startswith("award.tiers[0].amount_fen: 类型应为整数")


def test_target_outside_the_city_is_refused() -> None:
    doc = document(SPECIALIZED_SME)
    doc["target"]["division_prefix"] = "4103"
    [error] = errors_of(doc)
    assert error.startswith("target.division_prefix:")


def test_window_ending_before_it_starts_is_refused() -> None:
    doc = document(SPECIALIZED_SME)
    doc["effective"]["to"] = "2021-12-31"
    assert errors_of(doc) == ["effective.to: 截止日期 2021-12-31 早于起始日期 2022-01-01"]


def test_invalid_date_is_refused() -> None:
    doc = document(SPECIALIZED_SME)
    doc["effective"]["from"] = "2022-02-30"
    assert errors_of(doc) == ["effective.from: “2022-02-30”不是合法日期（应为 YYYY-MM-DD）"]


def test_parameter_must_be_an_integer_with_a_description() -> None:
    doc = document(SPECIALIZED_SME)
    doc["parameters"] = {"rate": {"value": 0.9}}
    errors = errors_of(doc)
    assert "parameters.rate.description: 缺少必填字段" in errors
    assert any(e.startswith("parameters.rate.value: 类型应为整数") for e in errors)


def test_all_faults_are_reported_together() -> None:
    doc = document(SPECIALIZED_SME)
    doc["record_types"] = ["no.such_type"]
    doc.pop("cases")  # their facts would be of a type the policy no longer reads
    doc["award"]["tiers"][0]["when"] = "(("
    doc["award"]["tiers"][2]["when"] = "record.attributes.title =="
    errors = errors_of(doc)
    assert [e.split(":", 1)[0] for e in errors] == ["record_types[0]", "award.tiers[0].when", "award.tiers[2].when"]


def test_yaml_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- just\n- a list\n", "utf-8")
    with pytest.raises(PolicyInvalid) as caught:
        load_policy_file(path)
    assert caught.value.errors == ["list.yaml: 文件内容应为一个 YAML 映射（政策文档对象）"]


def test_policy_dir_reads_only_yaml_files_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("id: b\n", "utf-8")
    (tmp_path / "a.yml").write_text("id: a\n", "utf-8")
    (tmp_path / "notes.txt").write_text("id: c\n", "utf-8")
    assert [d["id"] for d in load_policy_dir(tmp_path)] == ["a", "b"]
