"""The published data-feed contract (contracts/, docs/data-feeds.md) says what the
city file and the gateway say, and moves its version by the documented rule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from re import _constants as sre
from re import _parser as sre_parse
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker

from mianshen_shared import city as city_config
from mianshen_shared import feeds
from mianshen_shared.events import EVENTS
from mianshen_shared.testing import make_uscc
from mianshen_shared.topics import TOPICS, physical

pytestmark = pytest.mark.unit
CITY = city_config.load()
RECORD_TYPES = sorted(CITY.record_types)


def file_schema(record_type: str) -> dict[str, Any]:
    path = feeds.CONTRACTS_DIR / feeds.RECORD_TYPES_DIR / f"{record_type}.schema.json"
    return json.loads(path.read_text("utf-8"))  # type: ignore[no-any-return]


def refusals(schema: dict[str, Any], instance: Any) -> list[str]:
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    return [e.message for e in validator.iter_errors(instance)]


# --- samples built from a schema's required fields -------------------------------------------


def sample(schema: dict[str, Any]) -> Any:
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return sample(next(s for s in schema["anyOf"] if s.get("type") != "null"))
    kind = schema.get("type")
    if kind == "object":
        return {name: sample(schema["properties"][name]) for name in schema.get("required", [])}
    if kind == "string":
        if schema.get("format") == "date":
            return "2024-05-20"
        if "pattern" in schema:
            return text_matching(schema["pattern"])
        return "样" * max(schema.get("minLength", 1), 1)
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return True
    if kind == "array":
        return [sample(schema["items"])] * schema.get("minItems", 0)
    raise NotImplementedError(f"no sample for {schema}")


def text_matching(pattern: str) -> str:
    """The shortest string the (simple) regular expression takes, built from its parse tree."""
    return "".join(_shortest(sre_parse.parse(pattern)))


def _shortest(items: Any) -> Iterator[str]:
    for op, arg in items:
        if op is sre.LITERAL:
            yield chr(arg)
        elif op is sre.ANY:
            yield "a"
        elif op is sre.IN:
            yield _member(arg[0])
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, _high, sub = arg
            for _ in range(low):
                yield from _shortest(sub)
        elif op is sre.SUBPATTERN:
            yield from _shortest(arg[-1])
        elif op is sre.BRANCH:
            yield from _shortest(arg[1][0])
        elif op is not sre.AT:
            raise NotImplementedError(f"regex construct {op} in {items}")


def _member(item: Any) -> str:
    op, arg = item
    if op is sre.LITERAL:
        return chr(arg)
    if op is sre.RANGE:
        return chr(arg[0])
    if op is sre.CATEGORY and arg is sre.CATEGORY_DIGIT:
        return "0"
    raise NotImplementedError(f"character class {item}")


_WRONG_TYPE = {"string": 12345, "integer": "12345", "number": "1.5", "boolean": "yes", "object": [], "array": {}}


def wrong_value(schema: dict[str, Any]) -> Any:
    if "enum" in schema:
        return "__not_a_listed_value__"
    return _WRONG_TYPE.get(schema.get("type", ""))


# --- one schema file per record type ---------------------------------------------------------


def test_every_record_type_of_the_city_has_a_schema_file_and_an_index_entry() -> None:
    index = json.loads((feeds.CONTRACTS_DIR / feeds.VOCABULARY_FILE).read_text("utf-8"))
    assert sorted(index["record_types"]) == RECORD_TYPES
    for code in RECORD_TYPES:
        entry = index["record_types"][code]
        assert entry["name"] == CITY.record_types[code].name
        assert entry["departments"] == sorted(d for d, dept in CITY.departments.items() if code in dept.record_types)
        assert (feeds.CONTRACTS_DIR / entry["schema"]).is_file()
    on_disk = {p.name for p in (feeds.CONTRACTS_DIR / feeds.RECORD_TYPES_DIR).glob("*.schema.json")}
    assert on_disk == {f"{code}.schema.json" for code in RECORD_TYPES}


def test_the_index_lists_every_department_with_what_it_may_push() -> None:
    index = json.loads((feeds.CONTRACTS_DIR / feeds.VOCABULARY_FILE).read_text("utf-8"))
    assert index["departments"] == {
        code: {"name": dept.name, "record_types": sorted(dept.record_types)} for code, dept in CITY.departments.items()
    }


def test_committed_contract_and_doc_table_are_what_the_generator_writes_now() -> None:
    assert feeds.stale() == [], f"the data-feed contract is stale; run `{feeds.COMMAND}`"


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_a_schema_file_carries_the_vocabulary_major_version_the_chinese_name_and_who_may_push(
    record_type: str,
) -> None:
    schema = file_schema(record_type)
    index = json.loads((feeds.CONTRACTS_DIR / feeds.VOCABULARY_FILE).read_text("utf-8"))
    version = feeds.Version.parse(index["version"])
    assert schema["$schema"] == feeds.JSON_SCHEMA_DIALECT
    assert schema["$id"].endswith(f":v{version.major}:{record_type}")
    assert schema["title"] == CITY.record_types[record_type].name
    for code, dept in CITY.departments.items():
        assert (dept.name in schema["description"]) == (record_type in dept.record_types), code
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_a_sample_record_built_from_the_schema_file_is_valid_for_the_file_and_the_city(record_type: str) -> None:
    schema = file_schema(record_type)
    if not schema["properties"]["department"]["enum"]:
        pytest.skip("no department may push this record type yet")
    record = sample(schema)
    assert refusals(schema, record) == []
    assert CITY.attribute_errors(record_type, record["attributes"]) == []


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_the_gateway_accepts_the_sample_record_the_schema_file_accepts(record_type: str) -> None:
    gateway_service = pytest.importorskip("gateway.service")
    schema = file_schema(record_type)
    if not schema["properties"]["department"]["enum"]:
        pytest.skip("no department may push this record type yet")
    record = sample(schema) | {"uscc": make_uscc()}
    assert refusals(schema, record) == []
    [accepted] = gateway_service.validate_batch(
        {"records": [record]}, city=CITY, max_records=10, received_at=datetime.now(UTC)
    )
    assert accepted.record_type == record_type


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_attributes_the_city_refuses_are_refused_by_the_schema_file_too(record_type: str) -> None:
    schema = file_schema(record_type)
    attrs_schema = schema["properties"]["attributes"]
    record = sample(schema)
    valid = record["attributes"]
    closed = attrs_schema.get("additionalProperties") is False
    cases: list[tuple[str, dict[str, Any], bool]] = [("undeclared", valid | {"undeclared_attribute": "x"}, closed)]
    for name in attrs_schema.get("required", []):
        cases.append((f"without {name}", {k: v for k, v in valid.items() if k != name}, True))
    for name, spec in attrs_schema.get("properties", {}).items():
        if (bad := wrong_value(spec)) is not None:
            cases.append((f"{name} = {bad!r}", valid | {name: bad}, True))
    assert len(cases) > 1
    for label, attributes, refused in cases:
        city_refuses = bool(CITY.attribute_errors(record_type, attributes))
        file_refuses = bool(refusals(schema, record | {"attributes": attributes}))
        assert city_refuses == refused, label
        assert file_refuses == city_refuses, label


def test_the_schema_file_refuses_what_the_gateway_refuses_around_the_attributes() -> None:
    record_type = next(code for code in RECORD_TYPES if any(code in d.record_types for d in CITY.departments.values()))
    schema = file_schema(record_type)
    record = sample(schema)
    outsider = next((d for d, dept in CITY.departments.items() if record_type not in dept.record_types), "unknown")
    for label, bad in [
        ("department not allowed", record | {"department": outsider}),
        ("other record type", record | {"record_type": "no.such_type"}),
        ("timestamp as effective date", record | {"effective_date": "2024-05-20T08:00:00+08:00"}),
        ("unknown action", record | {"action": "delete"}),
        ("unknown field", record | {"received_at": "2024-05-20T00:00:00Z"}),
        ("lower-case uscc", record | {"uscc": make_uscc().lower()}),
        ("no attributes", {k: v for k, v in record.items() if k != "attributes"}),
    ]:
        assert refusals(schema, bad), label
    assert refusals(schema, record | {"action": "revoke", "enterprise_name": None}) == []


def test_the_schema_file_names_the_same_record_fields_as_the_gateway_request() -> None:
    gateway_schemas = pytest.importorskip("gateway.schemas")
    gateway = gateway_schemas.DepartmentRecordIn.model_json_schema()
    schema = file_schema(RECORD_TYPES[0])
    assert set(schema["properties"]) == set(gateway["properties"])
    assert set(schema["required"]) == set(gateway["required"])


# --- AsyncAPI --------------------------------------------------------------------------------


def asyncapi() -> dict[str, Any]:
    return yaml.safe_load((feeds.CONTRACTS_DIR / feeds.ASYNCAPI_FILE).read_text("utf-8"))  # type: ignore[no-any-return]


def test_the_asyncapi_document_has_one_channel_per_topic_at_its_default_address() -> None:
    doc = asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in doc["channels"].values()}
    assert addresses == {physical(name, "") for name in TOPICS}


def test_every_event_type_is_a_message_on_the_channel_of_its_topic() -> None:
    doc = asyncapi()
    by_address = {channel["address"]: channel for channel in doc["channels"].values()}
    for event_type, spec in EVENTS.items():
        assert event_type in doc["components"]["messages"]
        assert event_type in by_address[physical(spec.topic, "")]["messages"], event_type
        headers = doc["components"]["messages"][event_type]["headers"]
        assert set(headers["required"]) == {"correlationid", "type"}


def test_department_records_are_keyed_by_the_enterprise_uscc() -> None:
    key = asyncapi()["components"]["messages"]["department.record.submitted"]["bindings"]["kafka"]["key"]
    assert refusals(key, make_uscc()) == []
    assert refusals(key, "not-a-uscc")


def test_every_ref_in_the_asyncapi_document_resolves() -> None:
    doc = asyncapi()
    refs = list(_refs(doc))
    assert refs
    for ref in refs:
        target, _, pointer = ref.partition("#")
        if target:
            path = (feeds.CONTRACTS_DIR / target).resolve()
            assert path.is_file(), ref
            loaded = json.loads(path.read_text("utf-8"))
            assert loaded["properties"]["type"]["const"] == path.name.removesuffix(".schema.json")
            _resolve(loaded, pointer)
        else:
            _resolve(doc, pointer)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(document: Any, pointer: str) -> Any:
    node = document
    for part in [p for p in pointer.split("/") if p]:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


# --- the doc ----------------------------------------------------------------------------------


def test_the_doc_tells_how_to_refresh_and_lists_every_record_type_between_its_markers() -> None:
    text = feeds.DOC_PATH.read_text("utf-8")
    assert feeds.COMMAND in text
    generated = text[text.index(feeds.TABLE_START) : text.index(feeds.TABLE_END)]
    for code, rt in CITY.record_types.items():
        assert f"`{code}` {rt.name}" in generated


def test_refreshing_a_doc_without_markers_is_an_error_not_a_silent_no_op() -> None:
    with pytest.raises(ValueError, match="markers"):
        feeds.refresh_doc("# 无标记的文档\n", "表格")


# --- the vocabulary version -------------------------------------------------------------------


def title_type(*, required: tuple[str, ...] = ("title",), extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": "企业称号认定",
        "attributes": {
            "type": "object",
            "additionalProperties": False,
            "required": list(required),
            "properties": {"title": {"enum": ["national", "provincial"]}, **(extra or {})},
        },
    }


def write_city(path: Path, record_types: dict[str, Any], departments: dict[str, list[str]] | None = None) -> Path:
    departments = departments if departments is not None else {"gxj": list(record_types)}
    path.write_text(
        yaml.safe_dump(
            {
                "city": {"code": "419900", "name": "样例市", "division_prefix": "4199"},
                "departments": {code: {"name": f"{code}局", "record_types": rts} for code, rts in departments.items()},
                "record_types": record_types,
            },
            allow_unicode=True,
        ),
        "utf-8",
    )
    return path


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    doc = tmp_path / "data-feeds.md"
    doc.write_text(f"# 样例\n\n{feeds.TABLE_START}\n{feeds.TABLE_END}\n", "utf-8")
    yield tmp_path / "city.yaml", tmp_path / "contracts", doc


def version_after(city_file: Path, contracts: Path, doc: Path) -> dict[str, Any]:
    feeds.write(city_file=city_file, contracts_dir=contracts, doc_path=doc)
    return json.loads((contracts / feeds.VOCABULARY_FILE).read_text("utf-8"))  # type: ignore[no-any-return]


def test_the_first_generation_is_version_one_and_regenerating_keeps_it(sandbox: tuple[Path, Path, Path]) -> None:
    city_file, contracts, doc = sandbox
    write_city(city_file, {"miit.title": title_type()})
    first = version_after(city_file, contracts, doc)
    assert first["version"] == "1.0"
    assert first["history"] == [{"version": "1.0", "note": "首次发布", "record_types_added": ["miit.title"]}]
    assert version_after(city_file, contracts, doc) == first
    assert feeds.stale(city_file=city_file, contracts_dir=contracts, doc_path=doc) == []
    assert "`miit.title` 企业称号认定" in doc.read_text("utf-8")


def test_additions_bump_only_the_minor_version(sandbox: tuple[Path, Path, Path]) -> None:
    city_file, contracts, doc = sandbox
    write_city(city_file, {"miit.title": title_type()})
    version_after(city_file, contracts, doc)
    write_city(city_file, {"miit.title": title_type(extra={"document_no": {"type": "string"}})})
    assert version_after(city_file, contracts, doc)["version"] == "1.1"
    write_city(
        city_file,
        {"miit.title": title_type(extra={"document_no": {"type": "string"}}), "hrss.insurance": title_type()},
        {"gxj": ["miit.title"], "rsj": ["hrss.insurance"]},
    )
    index = version_after(city_file, contracts, doc)
    assert index["version"] == "1.2"
    assert index["history"][-1] == {
        "version": "1.2",
        "record_types_added": ["hrss.insurance"],
        "departments_changed": ["rsj"],
    }
    assert json.loads((contracts / "record-types" / "miit.title.schema.json").read_text("utf-8"))["$id"].endswith(
        ":v1:miit.title"
    )


def test_a_new_required_attribute_bumps_the_major_version_and_the_schema_ids(
    sandbox: tuple[Path, Path, Path],
) -> None:
    city_file, contracts, doc = sandbox
    write_city(city_file, {"miit.title": title_type()})
    version_after(city_file, contracts, doc)
    document_no = {"document_no": {"type": "string"}}
    write_city(city_file, {"miit.title": title_type(required=("title", "document_no"), extra=document_no)})
    index = version_after(city_file, contracts, doc)
    assert index["version"] == "2.0"
    assert index["history"][-1] == {"version": "2.0", "record_types_changed": ["miit.title"]}
    schema = json.loads((contracts / "record-types" / "miit.title.schema.json").read_text("utf-8"))
    assert schema["$id"] == "urn:mianshen:419900:record-types:v2:miit.title"


def test_a_removed_record_type_bumps_the_major_version_and_its_file_goes(sandbox: tuple[Path, Path, Path]) -> None:
    city_file, contracts, doc = sandbox
    write_city(city_file, {"miit.title": title_type(), "hrss.insurance": title_type()})
    version_after(city_file, contracts, doc)
    write_city(city_file, {"miit.title": title_type()})
    index = version_after(city_file, contracts, doc)
    assert index["version"] == "2.0"
    assert index["history"][-1]["record_types_removed"] == ["hrss.insurance"]
    assert not (contracts / "record-types" / "hrss.insurance.schema.json").exists()


def test_a_stale_contract_is_reported_before_it_is_rewritten(sandbox: tuple[Path, Path, Path]) -> None:
    city_file, contracts, doc = sandbox
    write_city(city_file, {"miit.title": title_type()})
    version_after(city_file, contracts, doc)
    write_city(city_file, {"miit.title": title_type(), "hrss.insurance": title_type()})
    assert contracts / "vocabulary.json" in feeds.stale(city_file=city_file, contracts_dir=contracts, doc_path=doc)
    assert doc in feeds.stale(city_file=city_file, contracts_dir=contracts, doc_path=doc)


@pytest.mark.parametrize(
    ("old", "new", "change"),
    [
        ({"enum": ["a", "b"]}, {"enum": ["a", "b", "c"]}, "additive"),
        ({"enum": ["a", "b"]}, {"enum": ["a"]}, "breaking"),
        ({"type": "string", "maxLength": 100}, {"type": "string", "maxLength": 50}, "breaking"),
        ({"type": "string"}, {"type": "string", "description": "说明"}, "additive"),
        ({"type": "integer"}, {"type": "string"}, "breaking"),
    ],
)
def test_changing_an_attribute_is_classified_by_whether_old_records_stay_valid(
    old: dict[str, Any], new: dict[str, Any], change: str
) -> None:
    def record(attribute: dict[str, Any], required: list[str]) -> dict[str, Any]:
        return {"type": "object", "required": required, "properties": {"a": attribute}}

    assert feeds.compare({"t": record(old, ["a"])}, {"t": record(new, ["a"])}, {}, {}).change == change


def test_reordering_required_attributes_is_no_change_but_dropping_one_is_breaking() -> None:
    props = {"a": {"type": "string"}, "b": {"type": "string"}}
    old = {"t": {"type": "object", "required": ["a", "b"], "properties": props}}
    assert feeds.compare(old, {"t": {**old["t"], "required": ["b", "a"]}}, {}, {}).breaking is False
    assert feeds.compare(old, {"t": {**old["t"], "required": ["a"]}}, {}, {}).change == "breaking"


def test_a_removed_department_is_breaking_and_a_renamed_one_additive() -> None:
    assert feeds.compare({}, {}, {"gxj": "市工信局"}, {}).change == "breaking"
    assert feeds.compare({}, {}, {"gxj": "市工信局"}, {"gxj": "市工业和信息化局"}).change == "additive"
