"""JSON Schema validation errors told in Chinese, naming the place of each fault.

Used for policy documents and for department records' attributes alike, so a
clerk reads the same kind of message wherever their data is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from jsonschema.exceptions import ValidationError

ROOT = "（文档根）"

_TYPE_NAMES = {
    "string": "字符串",
    "integer": "整数",
    "number": "数字",
    "object": "对象",
    "array": "数组",
    "boolean": "布尔值",
    "null": "null",
}


def path_text(parts: Iterable[Any], root: str = ROOT) -> str:
    """("award", "tiers", 0, "when") -> "award.tiers[0].when"."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or root


def _join(parent: str, name: str, root: str) -> str:
    return name if parent == root else f"{parent}.{name}"


def describe(err: ValidationError, root: str = ROOT) -> str:
    """One Chinese line for one fault: "<place>: <what is wrong>"."""
    where = path_text(err.absolute_path, root)
    kind, expected, value = err.validator, err.validator_value, err.instance
    if kind == "required":
        match = re.match(r"^'(.+)' is a required property$", err.message)
        missing = match.group(1) if match else "、".join(p for p in expected if p not in value)
        return f"{_join(where, missing, root)}: 缺少必填字段"
    if kind == "additionalProperties":
        allowed = set(err.schema.get("properties", {}))
        extras = sorted(set(value) - allowed) if isinstance(value, dict) else []
        return "；".join(f"{_join(where, name, root)}: 不允许的字段" for name in extras) or f"{where}: 含有不允许的字段"
    if kind == "enum":
        options = "、".join(str(o) for o in expected)
        return f"{where}: 取值 {value!r} 不在允许范围内（可选：{options}）"
    if kind == "const":
        return f"{where}: 取值应为 {expected!r}"
    if kind == "type":
        names = [str(n) for n in (expected if isinstance(expected, list) else [expected])]
        return f"{where}: 类型应为{'或'.join(_TYPE_NAMES.get(n, n) for n in names)}，实际为 {value!r}"
    if kind == "format" and expected == "date":
        return f"{where}: “{value}”不是合法日期（应为 YYYY-MM-DD）"
    if kind == "pattern":
        return f"{where}: “{value}”格式不正确（应匹配 {expected}）"
    if kind == "propertyNames":
        return f"{where}: 名称“{value}”不合法（应以小写字母开头，只含小写字母、数字和下划线）"
    if kind == "minimum":
        return f"{where}: 不能小于 {expected}"
    if kind == "minLength":
        return f"{where}: 不能为空" if expected == 1 else f"{where}: 长度不能少于 {expected}"
    if kind == "maxLength":
        return f"{where}: 长度不能超过 {expected}"
    if kind == "minItems":
        return f"{where}: 至少应有 {expected} 项"
    if kind == "uniqueItems":
        return f"{where}: 不能有重复项"
    return f"{where}: {err.message}"
