"""Policy documents from YAML files, as JSON-ready dicts."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from mianshen_shared.rules.model import PolicyInvalid

POLICY_SUFFIXES = (".yaml", ".yml")


def jsonable(value: Any) -> Any:
    """YAML reads 2022-01-01 as a date; documents travel in JSON events, so dates
    become ISO strings here, once, for every consumer alike."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def load_policy_file(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
    except yaml.YAMLError as exc:
        raise PolicyInvalid([f"{path.name}: YAML 无法解析：{exc}"]) from exc
    if not isinstance(raw, dict):
        raise PolicyInvalid([f"{path.name}: 文件内容应为一个 YAML 映射（政策文档对象）"])
    document: dict[str, Any] = jsonable(raw)
    return document


def load_policy_dir(path: Path | str) -> list[dict[str, Any]]:
    """Every policy document directly in `path`, in file-name order."""
    files = sorted(p for p in Path(path).iterdir() if p.is_file() and p.suffix in POLICY_SUFFIXES)
    return [load_policy_file(p) for p in files]
