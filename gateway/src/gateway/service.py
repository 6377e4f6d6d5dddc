"""Department data in: a batch is checked completely, then published completely.

Nothing of a batch reaches Kafka unless every record in it is valid, and the
department hears "accepted" only after the broker acknowledged every record.
If publishing fails part-way the department is told to retry the whole batch;
consumers keep the latest version of each record_id, so a retry converges.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from datetime import datetime
from typing import Any, Protocol

from aiokafka.errors import KafkaError
from pydantic import ValidationError

from gateway.schemas import DepartmentRecordIn, RecordError
from mianshen_shared import observability, tracing
from mianshen_shared.city import City
from mianshen_shared.events import make_envelope
from mianshen_shared.events.catalog import DepartmentRecordSubmitted
from mianshen_shared.problems import ProblemError

SOURCE = "gateway"
log = logging.getLogger(__name__)
# Envelope.correlationid is at most 200 characters; a caller's header may be longer.
MAX_CORRELATION_ID = 200


class Producer(Protocol):
    """The part of AIOKafkaProducer the gateway uses."""

    async def send(self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> Awaitable[Any]: ...


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProblemError(400, "malformed_json", "请求体不是合法的JSON") from exc


def validate_batch(
    body: Any, *, city: City, max_records: int, received_at: datetime
) -> list[DepartmentRecordSubmitted]:
    """Every record of the batch as an event payload, or a 422 listing every fault."""
    raw_records = _records_of(body, max_records)
    errors: list[RecordError] = []
    valid: list[DepartmentRecordIn] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(raw_records):
        record_id = _record_id_of(raw)
        record_errors = []
        if record_id is not None:
            if record_id in first_index:
                record_errors.append(
                    _error(
                        index,
                        record_id,
                        "record_id",
                        "duplicate_record_id",
                        f"记录编号在本批次中重复（与下标{first_index[record_id]}的记录相同）",
                    )
                )
            else:
                first_index[record_id] = index
        try:
            record = DepartmentRecordIn.model_validate(raw)
        except ValidationError as exc:
            record_errors.extend(
                _error(index, record_id, _path(err["loc"]), err["type"], _message(err)) for err in exc.errors()
            )
        else:
            record_errors.extend(_city_errors(index, record, city))
            valid.append(record)
        errors.extend(record_errors)
    if errors:
        _count_refused(raw_records, city)
        faulty = len({e.index for e in errors})
        raise ProblemError(
            422,
            "validation_failed",
            f"{faulty}条记录未通过校验，整批未接收",
            errors=[e.model_dump() for e in errors],
        )
    return [DepartmentRecordSubmitted(**r.model_dump(), received_at=received_at) for r in valid]


async def publish_records(
    producer: Producer | None,
    records: list[DepartmentRecordSubmitted],
    *,
    topic: str,
    correlation_id: str,
    timeout: float,
) -> None:
    """Send every record keyed by its USCC and return once the broker acknowledged all."""
    if producer is None:
        raise _broker_unavailable()
    # The request's span (its caller's trace, or a new one): where every event the
    # push causes, down to the payment, will say it came from.
    traceparent = tracing.for_event()
    envelopes = [
        make_envelope(r, source=SOURCE, subject=r.uscc, correlation_id=correlation_id).model_copy(
            update={"traceparent": traceparent}
        )
        for r in records
    ]

    async def send_all() -> None:
        acknowledgements = [
            await producer.send(
                topic,
                value=envelope.to_bytes(),
                key=record.uscc.encode(),
                headers=[
                    ("correlationid", correlation_id.encode()),
                    ("type", envelope.type.encode()),
                    (tracing.HEADER, traceparent.encode()),
                ],
            )
            for record, envelope in zip(records, envelopes, strict=True)
        ]
        await asyncio.gather(*acknowledgements)

    try:
        await asyncio.wait_for(send_all(), timeout=timeout)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise _broker_unavailable() from exc
    for record, envelope in zip(records, envelopes, strict=True):
        log.info(
            "accepted department record",
            extra={"event_id": str(envelope.id), "record_id": record.record_id, "subject": record.uscc},
        )


def _broker_unavailable() -> ProblemError:
    return ProblemError(503, "broker_unavailable", "消息服务暂不可用，本批记录未被接收，请稍后重试")


def _records_of(body: Any, max_records: int) -> list[Any]:
    if not isinstance(body, dict):
        raise _batch_error("<body>", "object_expected", "请求体应为包含 records 的JSON对象")
    unknown = sorted(set(body) - {"records"})
    if unknown:
        raise _batch_error(unknown[0], "extra_forbidden", f"不允许的字段：{', '.join(unknown)}")
    records = body.get("records")
    if records is None:
        raise _batch_error("records", "missing", "缺少必填字段 records")
    if not isinstance(records, list):
        raise _batch_error("records", "list_expected", "records 应为数组")
    if not records:
        raise _batch_error("records", "empty_batch", "批次中至少应有1条记录")
    if len(records) > max_records:
        raise _batch_error(
            "records", "batch_too_large", f"每批最多{max_records}条记录，本批{len(records)}条，请拆分后报送"
        )
    return records


def _batch_error(field: str, code: str, message: str) -> ProblemError:
    error = _error(None, None, field, code, message)
    return ProblemError(422, "validation_failed", message, errors=[error.model_dump()])


def _city_errors(index: int, record: DepartmentRecordIn, city: City) -> list[RecordError]:
    rid = record.record_id
    out = []
    department = city.departments.get(record.department)
    record_type = city.record_types.get(record.record_type)
    if department is None:
        out.append(_error(index, rid, "department", "unknown_department", f"未登记的数据部门：{record.department}"))
    if record_type is None:
        out.append(_error(index, rid, "record_type", "unknown_record_type", f"未定义的记录类型：{record.record_type}"))
        return out
    if department is not None and record_type.code not in department.record_types:
        out.append(
            _error(
                index,
                rid,
                "department",
                "record_type_not_allowed",
                f"{department.name}无权报送“{record_type.name}”（{record_type.code}）记录",
            )
        )
    for problem in city.attribute_errors(record_type.code, record.attributes):
        where, _, detail = problem.partition(": ")
        field = "attributes" if where == "attributes" else f"attributes.{where}"
        out.append(
            _error(index, rid, field, "invalid_attributes", f"属性不符合“{record_type.name}”的数据规范：{detail}")
        )
    return out


def _count_refused(raw_records: list[Any], city: City) -> None:
    """Every record of a refused batch is refused (数据共享督办 counts them); names the
    city does not know count as "unknown", so a bad body cannot invent label values."""
    for raw in raw_records:
        department = raw.get("department") if isinstance(raw, dict) else None
        record_type = raw.get("record_type") if isinstance(raw, dict) else None
        observability.FEED_RECORDS.labels(
            department if isinstance(department, str) and department in city.departments else "unknown",
            record_type if isinstance(record_type, str) and record_type in city.record_types else "unknown",
            "rejected",
        ).inc()


def _error(index: int | None, record_id: str | None, field: str, code: str, message: str) -> RecordError:
    return RecordError(index=index, record_id=record_id, field=field, code=code, message=message)


def _record_id_of(raw: Any) -> str | None:
    value = raw.get("record_id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and value else None


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "<record>"


def _message(err: Any) -> str:
    ctx = err.get("ctx") or {}
    if "zh" in ctx:
        return str(ctx["zh"])
    return {
        "missing": "缺少必填字段",
        "extra_forbidden": "不允许的字段",
        "model_type": "每条记录应为JSON对象",
        "dict_type": "应为JSON对象",
        "string_type": "应为字符串",
        "string_too_short": f"长度至少为{ctx.get('min_length', '')}",
        "string_too_long": f"长度不能超过{ctx.get('max_length', '')}",
        "literal_error": f"取值应为{ctx.get('expected', '')}",
        "date_from_datetime_parsing": "不是有效的日期（YYYY-MM-DD）",
        "date_parsing": "不是有效的日期（YYYY-MM-DD）",
    }.get(err["type"], "数据不合法")
