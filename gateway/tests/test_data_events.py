"""POST /v1/data-events: a batch is validated whole and published whole, or not at all."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from gateway.testing import ClientAuth
from mianshen_shared.events import parse_payload
from mianshen_shared.events.catalog import DepartmentRecordSubmitted

from .factories import batch, credit_record, insurance_record, title_record, with_wrong_check_digit
from .harness import Harness, assert_problem, has_chinese

pytestmark = pytest.mark.unit


async def test_valid_batch_is_published_keyed_by_uscc_and_then_accepted(gw: Harness) -> None:
    # One batch per department: each pushes only its own record types.
    records = [title_record(), title_record(), insurance_record(), credit_record(action="revoke")]
    for pushed in (records[:2], records[2:3], records[3:]):
        r = await gw.client.post("/v1/data-events", json=batch(*pushed), headers={"X-Correlation-ID": "push-42"})
        assert r.status_code == 202, r.text
        accepted = {
            "accepted": len(pushed),
            "record_ids": [x["record_id"] for x in pushed],
            "correlation_id": "push-42",
        }
        assert r.json() == accepted
    assert [s.topic for s in gw.producer.sent] == ["unit.mjx.department-records.v1"] * 4
    assert [s.key.decode() for s in gw.producer.sent] == [x["uscc"] for x in records]
    for sent, record in zip(gw.producer.sent, records, strict=True):
        envelope = sent.envelope
        assert (envelope.type, envelope.source, envelope.subject) == (
            "department.record.submitted",
            "gateway",
            record["uscc"],
        )
        assert envelope.correlationid == "push-42"
        payload = parse_payload(envelope)
        assert isinstance(payload, DepartmentRecordSubmitted)
        assert payload.model_dump(mode="json", exclude={"received_at"}) == record
        assert payload.received_at.utcoffset() is not None
        assert dict(sent.headers)["correlationid"] == b"push-42"


async def test_correlation_id_defaults_to_the_request_id(gw: Harness) -> None:
    r = await gw.client.post("/v1/data-events", json=batch(title_record()), headers={"X-Request-ID": "req-7"})
    assert r.status_code == 202
    assert r.json()["correlation_id"] == "req-7"
    assert gw.producer.sent[0].envelope.correlationid == "req-7"


async def test_an_optional_field_may_be_left_out(gw: Harness) -> None:
    record = title_record()
    del record["enterprise_name"], record["action"]
    r = await gw.client.post("/v1/data-events", json=batch(record))
    assert r.status_code == 202, r.text
    assert parse_payload(gw.producer.sent[0].envelope).action == "upsert"  # type: ignore[attr-defined]


def _drop(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda r: r.pop(name)


@pytest.mark.parametrize(
    ("mutate", "field", "code"),
    [
        (lambda r: r.update(record_type="miit.no_such_type"), "record_type", "unknown_record_type"),
        (lambda r: r.update(uscc=with_wrong_check_digit(r["uscc"])), "uscc", "uscc_check_digit"),
        (lambda r: r.update(uscc="91410105MA9DEM01"), "uscc", "uscc_length"),
        (lambda r: r.update(uscc=r["uscc"].lower()), "uscc", "uscc_charset"),
        (_drop("effective_date"), "effective_date", "missing"),
        (_drop("record_id"), "record_id", "missing"),
        (_drop("attributes"), "attributes", "missing"),
        (lambda r: r.update(colour="red"), "colour", "extra_forbidden"),
        (lambda r: r.update(effective_date="2022/06/01"), "effective_date", "date_format"),
        (lambda r: r.update(effective_date=1654041600), "effective_date", "date_format"),
        (lambda r: r.update(effective_date="2022-02-30"), "effective_date", "date_from_datetime_parsing"),
        (lambda r: r.update(action="delete"), "action", "literal_error"),
        (lambda r: r.update(record_id="x" * 129), "record_id", "string_too_long"),
        (lambda r: r["attributes"].update(title="world_champion"), "attributes.title", "invalid_attributes"),
        (lambda r: r["attributes"].pop("document_no"), "attributes.document_no", "invalid_attributes"),
        (lambda r: r["attributes"].update(stamp="x"), "attributes.stamp", "invalid_attributes"),
    ],
    ids=[
        "unknown-record-type",
        "bad-check-digit",
        "short-uscc",
        "lowercase-uscc",
        "missing-effective-date",
        "missing-record-id",
        "missing-attributes",
        "unknown-field",
        "slashed-date",
        "timestamp-date",
        "impossible-date",
        "unknown-action",
        "long-record-id",
        "attribute-outside-enum",
        "missing-attribute",
        "unknown-attribute",
    ],
)
async def test_an_invalid_record_rejects_the_whole_batch(
    gw: Harness, mutate: Callable[[dict[str, Any]], None], field: str, code: str
) -> None:
    good, bad = title_record(), title_record()
    mutate(bad)
    r = await gw.client.post("/v1/data-events", json=batch(good, bad))

    body = assert_problem(r, 422, "validation_failed")
    assert [(e["index"], e["field"], e["code"]) for e in body["errors"]] == [(1, field, code)]
    assert body["errors"][0]["record_id"] == bad.get("record_id")
    assert has_chinese(body["errors"][0]["message"])
    assert gw.producer.sent == [], "a valid record of a refused batch was published"


@pytest.mark.parametrize(
    ("department", "code"), [("credit", "record_type_not_allowed"), ("no_such_bureau", "unknown_department")]
)
async def test_a_record_naming_another_department_fails_validation_when_authentication_is_off(
    gw_open: Harness, department: str, code: str
) -> None:
    # Authenticated, the guard refuses such a batch first (test_security); the
    # validator behind it is what development stacks without credentials rely on.
    good, bad = title_record(), title_record(department=department)
    body = assert_problem(await gw_open.client.post("/v1/data-events", json=batch(good, bad)), 422, "validation_failed")
    assert [(e["index"], e["field"], e["code"]) for e in body["errors"]] == [(1, "department", code)]
    assert has_chinese(body["errors"][0]["message"])
    assert gw_open.producer.sent == []


async def test_the_uscc_error_carries_the_rule_that_was_broken(gw: Harness) -> None:
    record = title_record()
    record["uscc"] = with_wrong_check_digit(record["uscc"])
    r = await gw.client.post("/v1/data-events", json=batch(record))
    assert r.json()["errors"][0]["message"] == "统一社会信用代码校验位错误"


async def test_every_faulty_record_is_reported_in_one_answer(gw: Harness) -> None:
    records = [title_record(effective_date="2022/06/01"), title_record(), title_record(record_type="miit.unknown")]
    records[1]["attributes"]["title"] = "world_champion"
    r = await gw.client.post("/v1/data-events", json=batch(*records))
    body = assert_problem(r, 422, "validation_failed")
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (0, "effective_date"),
        (1, "attributes.title"),
        (2, "record_type"),
    ]
    assert "3条记录" in body["detail"]
    assert gw.producer.sent == []


async def test_a_record_id_repeated_in_the_batch_is_refused(gw: Harness) -> None:
    first = title_record()
    again = title_record(record_id=first["record_id"])
    body = assert_problem(await gw.client.post("/v1/data-events", json=batch(first, again)), 422, "validation_failed")
    assert [(e["index"], e["record_id"], e["code"]) for e in body["errors"]] == [
        (1, first["record_id"], "duplicate_record_id")
    ]
    assert gw.producer.sent == []


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"records": []}, "records", "empty_batch"),
        ({}, "records", "missing"),
        ({"records": {"record_id": "x"}}, "records", "list_expected"),
        ([], "<body>", "object_expected"),
        ({"records": [title_record()], "department": "gxj"}, "department", "extra_forbidden"),
        ({"records": ["not a record"]}, "<record>", "model_type"),
    ],
    ids=[
        "empty-batch",
        "no-records",
        "records-not-a-list",
        "body-not-an-object",
        "unknown-top-field",
        "record-not-an-object",
    ],
)
async def test_a_batch_of_the_wrong_shape_is_refused(gw: Harness, body: Any, field: str, code: str) -> None:
    problem = assert_problem(await gw.client.post("/v1/data-events", json=body), 422, "validation_failed")
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [(field, code)]
    assert gw.producer.sent == []


async def test_a_batch_over_the_record_limit_is_refused(gw: Harness) -> None:
    records = [title_record() for _ in range(gw.settings.max_batch_records + 1)]
    body = assert_problem(await gw.client.post("/v1/data-events", json=batch(*records)), 422, "validation_failed")
    assert body["errors"][0]["code"] == "batch_too_large"
    assert "500" in body["detail"]
    assert gw.producer.sent == []


async def test_malformed_json_is_a_bad_request(gw: Harness) -> None:
    r = await gw.client.post("/v1/data-events", content=b'{"records": [', headers={"content-type": "application/json"})
    assert_problem(r, 400, "malformed_json")
    assert gw.producer.sent == []


async def test_a_body_that_is_not_utf8_is_malformed(gw: Harness) -> None:
    r = await gw.client.post("/v1/data-events", content=b"\xff\xfe{}", headers={"content-type": "application/json"})
    assert_problem(r, 400, "malformed_json")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_json_is_unsupported(gw: Harness, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    r = await gw.client.post("/v1/data-events", content=json.dumps(batch(title_record())).encode(), headers=headers)
    assert_problem(r, 415, "unsupported_media_type")
    assert gw.producer.sent == []


async def test_a_ten_megabyte_body_is_refused_before_it_is_read(gw: Harness) -> None:
    r = await gw.client.post(
        "/v1/data-events", content=b"x" * (10 * 1024 * 1024), headers={"content-type": "application/json"}
    )
    body = assert_problem(r, 413, "payload_too_large")
    assert str(gw.settings.max_body_bytes) in body["detail"]
    assert gw.producer.sent == []


async def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit(gw: Harness) -> None:
    chunks_sent = 0

    async def stream() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        for _ in range(40):
            chunks_sent += 1
            yield b" " * (64 * 1024)

    # AutoAuth cannot read a stream to find the pushing department: name the client.
    r = await gw.client.post(
        "/v1/data-events",
        content=stream(),
        headers={"content-type": "application/json"},
        auth=ClientAuth(gw.registry["dept.gxj"]),
    )
    assert "content-length" not in r.request.headers
    assert_problem(r, 413, "payload_too_large")
    assert gw.producer.sent == []


@pytest.mark.parametrize(
    "failure", [KafkaConnectionError("broker down"), KafkaTimeoutError(), OSError("connection refused")]
)
async def test_a_batch_the_broker_cannot_take_is_not_claimed_accepted(gw: Harness, failure: Exception) -> None:
    gw.producer.refuse = failure
    r = await gw.client.post("/v1/data-events", json=batch(title_record(), title_record()))
    body = assert_problem(r, 503, "broker_unavailable")
    assert "accepted" not in body


async def test_a_batch_whose_acknowledgement_fails_is_not_claimed_accepted(gw: Harness) -> None:
    gw.producer.fail_acks = KafkaTimeoutError()
    r = await gw.client.post("/v1/data-events", json=batch(title_record()))
    assert_problem(r, 503, "broker_unavailable")


async def test_without_a_broker_connection_batches_are_refused_as_unavailable(gw: Harness) -> None:
    gw.app.state.gateway.producer = None
    assert_problem(await gw.client.post("/v1/data-events", json=batch(title_record())), 503, "broker_unavailable")
