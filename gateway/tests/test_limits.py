"""The gateway's other limits: page sizes, body and batch sizes, and how long and
how often it asks a service — a read is retried on a lost connection or 502/503,
a write never is."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from httpx import ASGITransport, AsyncClient
from pydantic import ValidationError

from gateway.config import Settings
from gateway.main import create_app

from .factories import batch, title_record
from .fakes import FakeProducer, FakeServices, ok, problem
from .harness import Harness, assert_problem

pytestmark = pytest.mark.unit
CATALOG = "http://127.0.0.1:8001"
PAYMENT = "http://127.0.0.1:8005"
OBJECTIONS = f"/notices/{uuid.uuid4()}/objections"
REASON = "该企业实际经营地不在郑州，申报材料与事实不符"
MAX_PAGE = 100


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Harness]:
    """The gateway with small limits and callers that need no token (a development stack)."""
    settings = Settings(
        messaging_enabled=False,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.sqlite'}",
        auth_required=False,
        max_batch_records=3,
        max_body_bytes=2048,
        upstream_timeouts={"payment": 2.5},
        upstream_retries=2,
        upstream_retry_backoff_seconds=0,
    )
    producer, services = FakeProducer(), FakeServices()
    app = create_app(settings, producer=producer, upstream_transport=services.transport)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        yield Harness(app, client, producer, services, settings)


# --- pagination ------------------------------------------------------------------------------------


async def test_no_list_route_offers_pages_of_more_than_a_hundred(gw: Harness) -> None:
    spec = (await gw.client.get("/openapi.json")).json()
    limits = {
        path: param["schema"]
        for path, item in spec["paths"].items()
        for param in item.get("get", {}).get("parameters", [])
        if param["name"] == "limit"
    }
    assert len(limits) >= 7, sorted(limits)
    assert {path: schema.get("maximum") for path, schema in limits.items()} == dict.fromkeys(limits, MAX_PAGE)
    assert all(schema.get("default", 0) <= MAX_PAGE for schema in limits.values())


@pytest.mark.parametrize("path", ["/v1/notices", "/v1/notices/batches", "/v1/operator/reconciliations"])
async def test_a_page_over_a_hundred_is_refused_before_any_service_is_asked(gw: Harness, path: str) -> None:
    body = assert_problem(await gw.client.get(path, params={"limit": MAX_PAGE + 1}), 422, "validation_failed")
    assert body["errors"][0]["field"] == "query.limit"
    assert gw.services.requests == []


async def test_a_page_of_exactly_a_hundred_is_passed_on(gw: Harness) -> None:
    gw.services.reply(PAYMENT, "/notices", ok({"items": [], "total": 0, "limit": MAX_PAGE, "offset": 0}))
    r = await gw.client.get("/v1/notices", params={"limit": MAX_PAGE})
    assert r.status_code == 200, r.text
    (sent,) = gw.services.requests_to("/notices")
    assert sent.url.params["limit"] == str(MAX_PAGE)


# --- bodies and batches ----------------------------------------------------------------------------


async def test_an_oversize_body_is_refused_with_413_before_any_service_is_asked(gw: Harness) -> None:
    r = await gw.client.post(f"/v1{OBJECTIONS}", json={"reason": REASON * 200})
    assert_problem(r, 413, "payload_too_large")
    assert gw.services.requests == []


async def test_an_oversize_body_without_a_declared_length_is_refused_too(gw: Harness) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b'{"reason": "' + b"x" * 400

    r = await gw.client.post(f"/v1{OBJECTIONS}", content=chunks(), headers={"content-type": "application/json"})
    assert_problem(r, 413, "payload_too_large")
    assert gw.services.requests == []


async def test_a_batch_over_the_record_limit_is_refused_whole_and_nothing_is_published(gw: Harness) -> None:
    r = await gw.client.post("/v1/data-events", json=batch(*(title_record() for _ in range(4))))
    body = assert_problem(r, 422, "validation_failed")
    assert body["errors"][0]["code"] == "batch_too_large"
    assert gw.producer.sent == []


async def test_a_batch_at_the_record_limit_is_accepted(gw: Harness) -> None:
    r = await gw.client.post("/v1/data-events", json=batch(*(title_record() for _ in range(3))))
    assert r.status_code == 202, r.text
    assert len(gw.producer.sent) == 3


# --- upstream timeouts and retries -----------------------------------------------------------------


async def test_each_service_is_given_its_own_timeout(gw: Harness) -> None:
    gw.services.reply(PAYMENT, "/notices", ok({"items": [], "total": 0, "limit": 50, "offset": 0}))
    gw.services.reply(CATALOG, "/policies", ok({"items": []}))
    await gw.client.get("/v1/notices")
    await gw.client.get("/v1/policies")
    (to_payment,) = gw.services.requests_to("/notices")
    (to_catalog,) = gw.services.requests_to("/policies")
    assert to_payment.extensions["timeout"]["read"] == 2.5
    assert to_catalog.extensions["timeout"]["read"] == gw.settings.upstream_timeout_seconds


async def test_a_read_is_retried_while_the_service_answers_503(gw: Harness) -> None:
    busy = problem(503, "service_unavailable", "服务暂不可用")
    gw.services.reply(CATALOG, "/policies", busy, busy, ok({"items": []}))
    r = await gw.client.get("/v1/policies")
    assert r.status_code == 200, r.text
    assert len(gw.services.requests_to("/policies")) == 3


async def test_retries_stop_at_the_configured_count_and_the_last_answer_is_passed_on(gw: Harness) -> None:
    gw.services.reply(CATALOG, "/policies", problem(502, "upstream_error", "上游服务错误"))
    r = await gw.client.get("/v1/policies")
    assert (r.status_code, r.json()["code"]) == (502, "upstream_error")
    assert len(gw.services.requests_to("/policies")) == 1 + gw.settings.upstream_retries


async def test_a_read_that_timed_out_is_not_asked_again(gw: Harness) -> None:
    gw.services.reply(CATALOG, "/policies", httpx.ReadTimeout("slow"), ok({"items": []}))
    assert_problem(await gw.client.get("/v1/policies"), 504, "upstream_timeout")
    assert len(gw.services.requests_to("/policies")) == 1


async def test_a_write_is_never_retried_even_when_the_service_answers_503(gw: Harness) -> None:
    busy = problem(503, "service_unavailable", "服务暂不可用")
    gw.services.reply(PAYMENT, OBJECTIONS, busy, ok({"objection_id": str(uuid.uuid4())}, status=201))
    r = await gw.client.post(f"/v1{OBJECTIONS}", json={"reason": REASON})
    assert (r.status_code, r.json()["code"]) == (503, "service_unavailable")
    assert len(gw.services.requests_to(OBJECTIONS)) == 1


async def test_a_write_is_never_retried_after_a_refused_connection(gw: Harness) -> None:
    gw.services.reply(PAYMENT, OBJECTIONS, httpx.ConnectError("refused"), ok({"objection_id": "x"}, status=201))
    assert_problem(await gw.client.post(f"/v1{OBJECTIONS}", json={"reason": REASON}), 502, "upstream_unavailable")
    assert len(gw.services.requests_to(OBJECTIONS)) == 1


def test_a_timeout_for_a_service_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ValidationError, match="paymnet"):
        Settings(upstream_timeouts={"paymnet": 5})
