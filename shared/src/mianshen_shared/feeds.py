"""The data-feed contract for departments, generated from the city file.

What a department may push is configuration (config/cities/<city>.yaml); this
module turns it into the published contract under contracts/:

- `record-types/<record_type>.schema.json`: one JSON Schema (2020-12) per record
  type: the gateway's record fields plus that type's attributes;
- `vocabulary.json`: the versioned index of record types and departments;
- `asyncapi.yaml`: the platform's Kafka topics and the events on each;

and refreshes the generated table in docs/data-feeds.md. The vocabulary version
moves by itself: identical contract, same version; only additions, a minor bump;
anything else, a major bump (see `compare`). Regenerate with
`python -m mianshen_shared.feeds --write`; `--check` lists what is stale.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from mianshen_shared import city as city_config
from mianshen_shared import uscc as uscc_rules
from mianshen_shared.config import REPO_ROOT
from mianshen_shared.events.catalog import EVENTS, DepartmentRecordSubmitted
from mianshen_shared.events.schemas import SCHEMA_DIR as EVENT_SCHEMA_DIR
from mianshen_shared.topics import DEAD_LETTER, TOPICS, physical

CONTRACTS_DIR = REPO_ROOT / "contracts"
DOC_PATH = REPO_ROOT / "docs" / "data-feeds.md"
RECORD_TYPES_DIR = "record-types"
VOCABULARY_FILE = "vocabulary.json"
ASYNCAPI_FILE = "asyncapi.yaml"
TABLE_START = "<!-- generated:record-types:start -->"
TABLE_END = "<!-- generated:record-types:end -->"
COMMAND = ".venv/bin/python -m mianshen_shared.feeds --write"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
FIRST_VERSION = "1.0"

# Set by the gateway when it accepts a record, never by the department.
_GATEWAY_FIELDS = frozenset({"received_at"})
# The gateway's request model has no default for attributes, unlike the event.
_ALWAYS_REQUIRED = ("attributes",)
_FIELD_DESCRIPTIONS = {
    "record_id": "来源系统中的唯一记录编号；更正、撤销时沿用同一编号。建议以部门代码开头，如 gxj-2024-000123",
    "department": "报送部门代码",
    "uscc": "企业的统一社会信用代码（18位）",
    "enterprise_name": "企业名称（可选）",
    "record_type": "记录类型代码",
    "effective_date": "生效日期（YYYY-MM-DD，北京时间）",
    "attributes": "该记录类型的属性",
    "action": "upsert：新增或更正（默认）；revoke：撤销此前报送的同一编号的记录",
}
# Keys that only explain; changing them never changes which records are valid.
_ANNOTATIONS = frozenset({"$id", "$comment", "title", "description", "examples", "default", "deprecated"})
_TOPIC_KEYS: dict[str, tuple[str, dict[str, Any]]] = {
    "policies": ("政策编号（policy_id）", {"type": "string", "minLength": 1, "maxLength": 120}),
    DEAD_LETTER: ("原消息的键，原样保留", {"type": "string"}),
}
_USCC_PATTERN = uscc_rules._SHAPE.pattern
_USCC_KEY: tuple[str, dict[str, Any]] = ("企业的统一社会信用代码", {"type": "string", "pattern": _USCC_PATTERN})
_KAFKA_BINDING = "0.5.0"

Change = Literal["same", "additive", "breaking"]


# --- the vocabulary version ----------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Version:
    """MAJOR.MINOR of the vocabulary. Within one major, a record valid before stays valid."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> Version:
        major, _, minor = text.partition(".")
        return cls(int(major), int(minor or 0))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def after(self, change: Change) -> Version:
        if change == "breaking":
            return Version(self.major + 1, 0)
        if change == "additive":
            return Version(self.major, self.minor + 1)
        return self


@dataclass(frozen=True)
class Published:
    """The contract as last written: its version, history and record-type schemas."""

    version: Version
    history: list[dict[str, Any]]
    departments: dict[str, str]
    record_types: dict[str, dict[str, Any]]


@dataclass
class Comparison:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    departments: list[str] = field(default_factory=list)
    breaking: bool = False

    @property
    def change(self) -> Change:
        if self.breaking:
            return "breaking"
        return "additive" if self.added or self.changed or self.departments else "same"


def compare(
    old_types: Mapping[str, dict[str, Any]],
    new_types: Mapping[str, dict[str, Any]],
    old_departments: Mapping[str, str],
    new_departments: Mapping[str, str],
) -> Comparison:
    """How the contract moved: a removed record type or department, or a record-type
    schema under which some record valid before is now refused or means something
    else, is breaking; new record types, departments, optional attributes, enum
    values or explanations are additive."""
    out = Comparison()
    for code in sorted(old_types.keys() | new_types.keys()):
        if code not in new_types:
            out.removed.append(code)
            out.breaking = True
        elif code not in old_types:
            out.added.append(code)
        elif _without_id(old_types[code]) != _without_id(new_types[code]):
            out.changed.append(code)
            out.breaking |= not _compatible(old_types[code], new_types[code])
    for code in sorted(old_departments.keys() | new_departments.keys()):
        if old_departments.get(code) != new_departments.get(code):
            out.departments.append(code)
            out.breaking |= code not in new_departments
    return out


def _without_id(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != "$id"}


def _compatible(old: Any, new: Any) -> bool:
    """Whether `new` keeps every promise of `old`, adding only optional things."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        if isinstance(old, list) and isinstance(new, list):
            return len(old) == len(new) and all(_compatible(a, b) for a, b in zip(old, new, strict=True))
        return bool(old == new)
    for key in (old.keys() | new.keys()) - _ANNOTATIONS:
        before, after = old.get(key), new.get(key)
        if key in ("properties", "$defs") and isinstance(before, dict) and isinstance(after, dict):
            if not all(name in after and _compatible(before[name], after[name]) for name in before):
                return False
        elif key == "enum" and isinstance(before, list) and isinstance(after, list):
            if any(value not in after for value in before):
                return False
        elif key == "required" and isinstance(before, list) and isinstance(after, list):
            if set(before) != set(after):
                return False
        elif not _compatible(before, after):
            return False
    return True


# --- record-type schemas ---------------------------------------------------------------------


def schema_id(city: city_config.City, record_type: str, major: int) -> str:
    return f"urn:mianshen:{city.code}:record-types:v{major}:{record_type}"


def departments_of(city: city_config.City, record_type: str) -> list[str]:
    return sorted(code for code, dept in city.departments.items() if record_type in dept.record_types)


def record_schema(
    city: city_config.City, record_type: str, attributes: dict[str, Any], *, major: int
) -> dict[str, Any]:
    """A department record of this type as the gateway accepts it, as one JSON Schema."""
    rt = city.record_types[record_type]
    base = DepartmentRecordSubmitted.model_json_schema()
    properties: dict[str, Any] = {}
    for name, spec in base["properties"].items():
        if name in _GATEWAY_FIELDS:
            continue
        spec = {k: v for k, v in spec.items() if k != "title"}
        spec["description"] = _FIELD_DESCRIPTIONS[name]
        properties[name] = spec
    departments = departments_of(city, record_type)
    attrs = copy.deepcopy(attributes)
    # Refs inside the attributes schema point at its own root; hoisted, they still resolve.
    defs = attrs.pop("$defs", None)
    properties["uscc"] |= {"type": "string", "pattern": _USCC_PATTERN}
    properties["department"] |= {"enum": departments}
    properties["record_type"] = {"const": record_type, "description": _FIELD_DESCRIPTIONS["record_type"]}
    # The gateway takes calendar dates only, never timestamps.
    properties["effective_date"] |= {"pattern": r"^\d{4}-\d{2}-\d{2}$"}
    properties["attributes"] = {**attrs, "description": attrs.get("description", f"“{rt.name}”的属性")}
    who = "、".join(f"{city.departments[d].name}（{d}）" for d in departments) or "尚无部门获准"
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_id(city, record_type, major),
        "title": rt.name,
        "description": f"{city.name}部门报送的“{rt.name}”记录（{record_type}）。可报送部门：{who}。",
        "type": "object",
        "additionalProperties": False,
        "required": sorted({*base.get("required", []), *_ALWAYS_REQUIRED} - _GATEWAY_FIELDS),
        "properties": properties,
    }
    if rt.credit_list is not None:
        schema["x-credit-list"] = rt.credit_list
    if defs:
        schema["$defs"] = defs
    return schema


def _raw_attributes(city_file: Path) -> dict[str, dict[str, Any]]:
    """Each record type's attributes schema as written (the City keeps only a validator)."""
    raw = yaml.safe_load(city_file.read_text("utf-8"))
    return {code: copy.deepcopy(spec["attributes"]) for code, spec in raw["record_types"].items()}


# --- what was published ---------------------------------------------------------------------


def published(contracts_dir: Path) -> Published | None:
    index = contracts_dir / VOCABULARY_FILE
    if not index.exists():
        return None
    vocabulary = json.loads(index.read_text("utf-8"))
    schemas = {}
    for code, entry in vocabulary["record_types"].items():
        path = contracts_dir / entry["schema"]
        # A deleted file reads as a removed record type, which is what it would be.
        if path.exists():
            schemas[code] = json.loads(path.read_text("utf-8"))
    return Published(
        version=Version.parse(vocabulary["version"]),
        history=list(vocabulary.get("history", [])),
        departments={code: d["name"] for code, d in vocabulary.get("departments", {}).items()},
        record_types=schemas,
    )


# --- the vocabulary index --------------------------------------------------------------------


def vocabulary(city: city_config.City, version: Version, history: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "city": {"code": city.code, "name": city.name, "division_prefix": city.division_prefix},
        "version": str(version),
        "description": "部门报送数据的记录类型词表。同一主版本内只做增补，此前有效的记录仍然有效。",
        "generated_by": COMMAND,
        "departments": {
            code: {"name": dept.name, "record_types": sorted(dept.record_types)}
            for code, dept in sorted(city.departments.items())
        },
        "record_types": {
            code: {
                "name": rt.name,
                "departments": departments_of(city, code),
                "schema": f"{RECORD_TYPES_DIR}/{code}.schema.json",
                **({"credit_list": rt.credit_list} if rt.credit_list else {}),
            }
            for code, rt in sorted(city.record_types.items())
        },
        "history": history,
    }


def _history_entry(version: Version, comparison: Comparison, first: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"version": str(version)}
    if first:
        entry["note"] = "首次发布"
    for key, codes in (
        ("record_types_added", comparison.added),
        ("record_types_changed", comparison.changed),
        ("record_types_removed", comparison.removed),
        ("departments_changed", comparison.departments),
    ):
        if codes:
            entry[key] = codes
    return entry


# --- AsyncAPI ------------------------------------------------------------------------------


def _camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(part.capitalize() for part in rest)


def asyncapi(city: city_config.City, version: Version, contracts_dir: Path) -> dict[str, Any]:
    """AsyncAPI 3.0: one channel per topic, one message per event type."""
    schema_dir = Path(os.path.relpath(EVENT_SCHEMA_DIR, contracts_dir)).as_posix()
    by_topic: dict[str, list[str]] = {name: [] for name in TOPICS}
    for spec in EVENTS.values():
        by_topic[spec.topic].append(spec.type)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, topic in TOPICS.items():
        channel_id = _camel(name)
        types = sorted(by_topic[name])
        if name == DEAD_LETTER:
            types = ["dead-lettered"]
        channels[channel_id] = {
            "address": physical(name, ""),
            "title": name,
            "description": (
                f"主题 `{physical(name, '')}`（部署时可加前缀 MIANSHEN_TOPIC_PREFIX，即 `<前缀>mjx.{name}.v1`）。"
                f"消息键：{_TOPIC_KEYS.get(name, _USCC_KEY)[0]}。"
            ),
            "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in types},
            "bindings": {
                "kafka": {
                    "topic": physical(name, ""),
                    "partitions": topic.partitions,
                    "replicas": 1,
                    "topicConfiguration": {"retention.ms": topic.retention_ms},
                    "bindingVersion": _KAFKA_BINDING,
                }
            },
        }
        producers = sorted({EVENTS[t].producer for t in types if t in EVENTS}) or ["each consumer"]
        operations[f"send{channel_id[0].upper()}{channel_id[1:]}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{', '.join(producers)} → {name}",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{t}"} for t in types],
        }
        for event_type in types:
            if event_type in EVENTS:
                messages[event_type] = _event_message(event_type, name, schema_dir)
    messages["dead-lettered"] = _dead_letter_message()
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"{city.name}惠企政策“免申即享”平台事件",
            "version": str(version),
            "description": (
                "平台各服务之间的 Kafka 主题与事件。每条消息的值是事件信封（CloudEvents 风格）加 data；"
                "事件的 JSON Schema 由 `python -m mianshen_shared.events.schemas --write` 生成。"
                f"部门报送的记录类型见 `{VOCABULARY_FILE}`（词表版本 {version}）。"
                f"本文件由 `{COMMAND}` 生成，请勿手改。"
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "Apache Kafka；本地开发为 127.0.0.1:9092",
                "variables": {"bootstrap": {"default": "127.0.0.1:9092"}},
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def _event_message(event_type: str, topic: str, schema_dir: str) -> dict[str, Any]:
    spec = EVENTS[event_type]
    key_text, key_schema = _TOPIC_KEYS.get(topic, _USCC_KEY)
    message: dict[str, Any] = {
        "name": event_type,
        "title": f"{event_type} v{spec.version}",
        "summary": (spec.model.__doc__ or spec.model.__name__).strip().splitlines()[0],
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "required": ["correlationid", "type"],
            "properties": {
                "correlationid": {"type": "string", "maxLength": 200, "description": "关联编号，沿整条业务链路传递"},
                "type": {"const": event_type, "description": "事件类型，与信封中的 type 相同"},
            },
        },
        "payload": {
            "schemaFormat": "application/schema+json;version=draft-2020-12",
            "schema": {"$ref": f"{schema_dir}/{event_type}.schema.json"},
        },
        "bindings": {"kafka": {"key": {**key_schema, "description": key_text}, "bindingVersion": _KAFKA_BINDING}},
        "x-producer": spec.producer,
        "x-dataversion": spec.version,
    }
    if event_type == "department.record.submitted":
        message["description"] = (
            f"data.attributes 按 data.record_type 对应的记录类型校验，见 `{VOCABULARY_FILE}` 与 `{RECORD_TYPES_DIR}/`。"
        )
    return message


def _dead_letter_message() -> dict[str, Any]:
    header = {"type": "string"}
    return {
        "name": "dead-lettered",
        "title": "死信",
        "summary": "无法处理的消息，字节原样保留，原因写在消息头中",
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "required": ["dlq.reason", "dlq.message", "dlq.source.topic", "dlq.source.partition", "dlq.source.offset"],
            "properties": {
                "dlq.reason": header | {"description": "稳定的英文原因码"},
                "dlq.message": header | {"description": "中文说明"},
                "dlq.source.topic": header,
                "dlq.source.partition": header,
                "dlq.source.offset": header,
                "dlq.consumer": header | {"description": "放弃处理的消费组"},
                "dlq.time": header,
                "correlationid": header,
            },
        },
        "payload": {"description": "原消息的字节"},
        "bindings": {"kafka": {"key": {"type": "string"}, "bindingVersion": _KAFKA_BINDING}},
    }


# --- docs/data-feeds.md --------------------------------------------------------------------


def record_types_section(city: city_config.City, schemas: Mapping[str, dict[str, Any]], version: Version) -> str:
    """The Markdown between the doc's markers: who may push what, and each type's attributes."""
    lines = [
        f"词表版本：**{version}**（`contracts/{VOCABULARY_FILE}`）。本节由 `{COMMAND}` 生成，请勿手改。",
        "",
        "### 各部门可报送的记录类型",
        "",
        "| 部门 | 部门代码 | 记录类型 | 名称 |",
        "|---|---|---|---|",
    ]
    for code, dept in sorted(city.departments.items()):
        if not dept.record_types:
            lines.append(f"| {dept.name} | `{code}` | （暂无） | |")
        for allowed in sorted(dept.record_types):
            lines.append(f"| {dept.name} | `{code}` | `{allowed}` | {city.record_types[allowed].name} |")
    for code, rt in sorted(city.record_types.items()):
        attrs = schemas[code]["properties"]["attributes"]
        required = set(attrs.get("required", []))
        who = "、".join(city.departments[d].name for d in departments_of(city, code)) or "尚无部门获准报送"
        lines += [
            "",
            f"### `{code}` {rt.name}",
            "",
            f"报送部门：{who}。Schema：`contracts/{RECORD_TYPES_DIR}/{code}.schema.json`。"
            + ("（信用记录：列入失信名单，兑现前的信用核查据此暂缓。）" if rt.credit_list == "black" else ""),
            "",
            "| 属性 | 必填 | 取值 | 说明 |",
            "|---|---|---|---|",
        ]
        for name, spec in attrs.get("properties", {}).items():
            described = " ".join(str(spec.get("description", "")).split()).replace("|", "／")
            lines.append(f"| `{name}` | {'是' if name in required else '否'} | {_shape(spec)} | {described} |")
        if attrs.get("additionalProperties") is False:
            lines.append("")
            lines.append("不接受表中以外的属性。")
    return "\n".join(lines)


def _shape(spec: Mapping[str, Any]) -> str:
    if "enum" in spec:
        return "、".join(f"`{v}`" for v in spec["enum"])
    if "const" in spec:
        return f"`{spec['const']}`"
    kind = spec.get("type")
    if kind == "integer" or kind == "number":
        low, high = spec.get("minimum"), spec.get("maximum")
        word = "整数" if kind == "integer" else "数值"
        if low is not None and high is not None:
            return f"{word}，{low}–{high}"
        if low is not None:
            return f"{word}，不小于{low}"
        return word
    if kind == "boolean":
        return "`true` / `false`" + ("，默认 `false`" if spec.get("default") is False else "")
    if kind == "string":
        if spec.get("format") == "date":
            return "日期 YYYY-MM-DD"
        if "pattern" in spec:
            return f"文本，格式 `{spec['pattern']}`"
        if "maxLength" in spec:
            return f"文本，至多{spec['maxLength']}字"
        return "文本"
    if kind == "array":
        return "数组"
    if kind == "object":
        return "对象"
    return "见 Schema"


def refresh_doc(text: str, section: str) -> str:
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"docs/data-feeds.md lacks the markers {TABLE_START} … {TABLE_END}")
    return text[: start + len(TABLE_START)] + "\n" + section + "\n" + text[end:]


# --- putting it together -------------------------------------------------------------------


def render(
    *,
    city_file: Path | None = None,
    contracts_dir: Path = CONTRACTS_DIR,
    doc_path: Path | None = DOC_PATH,
) -> dict[Path, str]:
    """The full text of every generated file, given the city file and what was published."""
    source = Path(city_file or os.environ.get("MIANSHEN_CITY_FILE") or city_config.DEFAULT_CITY_FILE)
    city = city_config.load(source)
    raw = _raw_attributes(source)
    before = published(contracts_dir)

    def schemas_for(major: int) -> dict[str, dict[str, Any]]:
        return {code: record_schema(city, code, raw[code], major=major) for code in sorted(city.record_types)}

    departments = {code: dept.name for code, dept in city.departments.items()}
    if before is None:
        version = Version.parse(FIRST_VERSION)
        schemas = schemas_for(version.major)
        comparison = compare({}, schemas, {}, {})
        history = [_history_entry(version, comparison, first=True)]
    else:
        schemas = schemas_for(before.version.major)
        comparison = compare(before.record_types, schemas, before.departments, departments)
        version = before.version.after(comparison.change)
        history = before.history
        if version != before.version:
            history = [*history, _history_entry(version, comparison, first=False)]
            schemas = schemas_for(version.major)

    files = {
        contracts_dir / RECORD_TYPES_DIR / f"{code}.schema.json": _json(schema) for code, schema in schemas.items()
    }
    files[contracts_dir / VOCABULARY_FILE] = _json(vocabulary(city, version, history))
    files[contracts_dir / ASYNCAPI_FILE] = (
        "# Generated by `"
        + COMMAND
        + "`; do not edit.\n"
        + yaml.safe_dump(asyncapi(city, version, contracts_dir), allow_unicode=True, sort_keys=False, width=120)
    )
    if doc_path is not None:
        files[doc_path] = refresh_doc(doc_path.read_text("utf-8"), record_types_section(city, schemas, version))
    return files


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


def leftovers(files: Mapping[Path, str], contracts_dir: Path = CONTRACTS_DIR) -> list[Path]:
    """Record-type schema files of record types the city no longer declares."""
    directory = contracts_dir / RECORD_TYPES_DIR
    if not directory.exists():
        return []
    return sorted(p for p in directory.glob("*.schema.json") if p not in files)


def stale(
    *, city_file: Path | None = None, contracts_dir: Path = CONTRACTS_DIR, doc_path: Path | None = DOC_PATH
) -> list[Path]:
    """Generated files whose committed text is not what the generator writes now."""
    files = render(city_file=city_file, contracts_dir=contracts_dir, doc_path=doc_path)
    differing = [p for p, text in files.items() if not p.exists() or p.read_text("utf-8") != text]
    return sorted(differing + leftovers(files, contracts_dir))


def write(
    *, city_file: Path | None = None, contracts_dir: Path = CONTRACTS_DIR, doc_path: Path | None = DOC_PATH
) -> list[Path]:
    files = render(city_file=city_file, contracts_dir=contracts_dir, doc_path=doc_path)
    for path in leftovers(files, contracts_dir):
        path.unlink()
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text("utf-8") != text:
            path.write_text(text, "utf-8")
    return sorted(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate contracts/ and the table in docs/data-feeds.md")
    mode.add_argument("--check", action="store_true", help="list stale files; exit 1 if any")
    args = parser.parse_args(argv)
    if args.write:
        for path in write():
            print(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)
        print("vocabulary version", json.loads((CONTRACTS_DIR / VOCABULARY_FILE).read_text("utf-8"))["version"])
        return 0
    out_of_date = stale()
    for path in out_of_date:
        print(f"stale: {path}", file=sys.stderr)
    return 1 if out_of_date else 0


if __name__ == "__main__":
    sys.exit(main())
