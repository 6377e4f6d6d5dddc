"""The 公示 API on the migrated schema (PostgreSQL): the public notice and its batches,
objections from anyone, and operators' decisions — with every bad input refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from httpx import ASGITransport, AsyncClient

from mianshen_shared.db import transaction
from payment import notice, service, terms
from payment.config import Settings
from payment.main import create_app
from payment.models import Payment, outbox_table
from payment.repository import NoticeRepository

from .notice_support import POLICY_ID, assessed, published

pytestmark = pytest.mark.integration
REASON = "该企业实际经营地不在郑州，申报材料与事实不符"


async def _emit_to_outbox(app, session):
    async def emit(payload, *, key: str, correlation_id: str) -> None:
        await app.state.runtime.outbox.add(session, payload, key=key, correlation_id=correlation_id)

    return emit


async def _seed(app, *events, now: datetime | None = None) -> list[Payment]:
    async with transaction(app.state.runtime.sessions) as session:
        repo = NoticeRepository(session)
        if await repo.terms(POLICY_ID, 1) is None:
            await terms.record_published(repo, published=published(procedure={"notice_working_days": 5}))
        emit = await _emit_to_outbox(app, session)
        out = []
        for e in events:
            payment = await service.record_assessment(
                repo, assessed=e, correlation_id="c-api", now=now or datetime.now(UTC), emit=emit
            )
            assert payment is not None
            out.append(payment)
        return out


async def _outbox_types(app) -> list[str]:
    async with transaction(app.state.runtime.sessions) as session:
        rows = await session.execute(sa.select(outbox_table.c.headers))
        return [headers["type"] for (headers,) in rows]


@pytest.fixture
async def api(pg_database):
    app = create_app(Settings(database_url=await pg_database("payment_notice_api"), messaging_enabled=False))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield app, client


async def test_the_public_notice_lists_who_gets_how_much_without_bank_data(api) -> None:
    app, client = api
    [payment] = await _seed(app, assessed(amount_fen=150_000))
    response = await client.get("/notices", params={"policy_id": POLICY_ID})
    assert response.status_code == 200
    page = response.json()
    assert page["total"] == 1
    [entry] = page["items"]
    assert (entry["uscc"], entry["enterprise_name"]) == (payment.uscc, "郑州示例科技有限公司")
    assert (entry["amount_fen"], entry["amount_text"]) == (150_000, "1,500.00元")
    assert entry["policy_title"] == "郑州市专精特新中小企业奖励"
    assert entry["notice_until"] == payment.notice_until.isoformat()
    assert entry["open_for_objection"] is True
    assert "6222" not in response.text and "1234567" not in response.text and "payee" not in response.text
    assert "explanation" not in response.text


async def test_batches_group_a_policys_notices_by_day_and_filter_the_list(api) -> None:
    app, client = api
    today = datetime.now(UTC)
    await _seed(app, assessed(amount_fen=100), assessed(amount_fen=200), now=today)
    await _seed(app, assessed(amount_fen=400), now=today - timedelta(days=3))
    batches = (await client.get("/notices/batches")).json()["items"]
    assert [(b["count"], b["total_fen"]) for b in batches] == [(2, 300), (1, 400)]
    newest = batches[0]["batch"]
    assert newest.startswith(f"{POLICY_ID}-")
    listed = (await client.get("/notices", params={"batch": newest})).json()
    assert sorted(e["amount_fen"] for e in listed["items"]) == [100, 200]
    second_page = (await client.get("/notices", params={"limit": 1, "offset": 1})).json()
    assert (len(second_page["items"]), second_page["total"]) == (1, 3)


async def test_an_objection_holds_the_payment_and_an_operator_upholding_it_withdraws_it(api) -> None:
    app, client = api
    [payment] = await _seed(app, assessed())
    raised = await client.post(
        f"/notices/{payment.payment_id}/objections", json={"reason": REASON, "contact": "0371-12345678"}
    )
    assert raised.status_code == 201
    objection_id = raised.json()["objection_id"]
    [listed] = (await client.get("/objections", params={"status": "open"})).json()["items"]
    assert (listed["objection_id"], listed["payment_stage"], listed["contact"]) == (
        objection_id,
        "objected",
        "0371-12345678",
    )
    decided = await client.post(
        f"/objections/{objection_id}/decision",
        json={"decision": "uphold", "reason": "经核实，企业已迁出"},
        headers={"X-Actor": "clerk.wang"},
    )
    assert decided.status_code == 200
    body = decided.json()
    assert (body["status"], body["decided_by"], body["payment_stage"]) == ("upheld", "clerk.wang", "withdrawn")
    assert (await client.get("/objections", params={"status": "open"})).json()["items"] == []
    # Withdrawn: off the public notice, never claimable by the worker.
    assert (await client.get("/notices")).json()["total"] == 0
    async with transaction(app.state.runtime.sessions) as session:
        assert await NoticeRepository(session).claim_due(datetime.now(UTC) + timedelta(days=60), 10) == []
    assert (await _outbox_types(app)).count("payment.progressed") == 3  # in_notice, objected, withdrawn


async def test_an_objection_after_the_notice_ended_is_refused(api) -> None:
    app, client = api
    [payment] = await _seed(app, assessed(), now=datetime.now(UTC) - timedelta(days=30))
    response = await client.post(f"/notices/{payment.payment_id}/objections", json={"reason": REASON})
    assert response.status_code == 409
    assert response.json()["code"] == "notice_closed"


async def test_an_objection_to_an_unknown_payment_is_not_found(api) -> None:
    _app, client = api
    response = await client.post(f"/notices/{uuid.uuid4()}/objections", json={"reason": REASON})
    assert (response.status_code, response.json()["code"]) == (404, "notice_not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "太短了"}, "reason"),
        ({"reason": "长" * 501}, "reason"),
        ({"reason": REASON, "contact": "1" * 101}, "contact"),
        ({"reason": REASON, "name": "匿名"}, "name"),
        ({}, "reason"),
    ],
)
async def test_an_objection_with_bad_fields_is_refused_field_by_field(api, body, field) -> None:
    app, client = api
    [payment] = await _seed(app, assessed())
    response = await client.post(f"/notices/{payment.payment_id}/objections", json=body)
    assert response.status_code == 422
    assert field in {e["field"] for e in response.json()["errors"]}


async def test_malformed_json_and_a_bad_payment_id_are_refused(api) -> None:
    _app, client = api
    malformed = await client.post(
        f"/notices/{uuid.uuid4()}/objections", content=b"{reason:", headers={"content-type": "application/json"}
    )
    assert (malformed.status_code, malformed.json()["code"]) == (400, "malformed_json")
    bad_id = await client.post("/notices/not-a-uuid/objections", json={"reason": REASON})
    assert bad_id.status_code == 422


async def test_a_decision_needs_an_actor_a_known_objection_and_a_valid_body(api) -> None:
    app, client = api
    [payment] = await _seed(app, assessed())
    objection_id = (await client.post(f"/notices/{payment.payment_id}/objections", json={"reason": REASON})).json()[
        "objection_id"
    ]
    path = f"/objections/{objection_id}/decision"
    no_actor = await client.post(path, json={"decision": "dismiss", "reason": "不实"})
    assert (no_actor.status_code, no_actor.json()["code"]) == (400, "actor_required")
    actor = {"X-Actor": "clerk.li"}
    bad_decision = await client.post(path, json={"decision": "maybe", "reason": "不实"}, headers=actor)
    assert bad_decision.status_code == 422
    extra = await client.post(path, json={"decision": "dismiss", "reason": "不实", "x": 1}, headers=actor)
    assert extra.status_code == 422
    unknown = await client.post(
        f"/objections/{uuid.uuid4()}/decision", json={"decision": "dismiss", "reason": "不实"}, headers=actor
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "objection_not_found")
    dismissed = await client.post(path, json={"decision": "dismiss", "reason": "不实"}, headers=actor)
    assert (dismissed.status_code, dismissed.json()["payment_stage"]) == (200, "in_notice")
    again = await client.post(path, json={"decision": "uphold", "reason": "改判"}, headers=actor)
    assert (again.status_code, again.json()["code"]) == (409, "objection_decided")


async def test_list_filters_refuse_malformed_values(api) -> None:
    _app, client = api
    assert (await client.get("/objections", params={"status": "everything"})).status_code == 422
    assert (await client.get("/notices", params={"policy_id": "bad id!"})).status_code == 422
    assert (await client.get("/notices", params={"limit": 0})).status_code == 422


async def test_the_worker_query_claims_a_payment_only_after_its_notice_is_swept_to_pending(api) -> None:
    app, _client = api
    [payment] = await _seed(app, assessed())
    assert payment.notice_ends_at is not None
    after = payment.notice_ends_at + timedelta(minutes=1)
    async with transaction(app.state.runtime.sessions) as session:
        repo = NoticeRepository(session)
        assert await repo.claim_due(after, 10) == []
        emit = await _emit_to_outbox(app, session)
        assert await notice.end_notices(repo, now=after, limit=10, emit=emit) == 1
        [claimed] = await repo.claim_due(after, 10)
    assert claimed.payment_id == payment.payment_id
