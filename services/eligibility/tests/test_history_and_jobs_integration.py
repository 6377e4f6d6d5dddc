"""Award history and background re-evaluation on the real PostgreSQL (and Kafka for the
payment.issued consumer): payments settle entitlements, a job killed mid-chunk resumes
without announcing anything twice, and the operator and "why (not)?" routes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import ASGITransport, AsyncClient

from eligibility import service
from eligibility.config import Settings
from eligibility.main import create_app
from eligibility.models import ReevaluationJob, outbox_table
from eligibility.repository import EligibilityRepository
from eligibility.worker import ReevaluationWorker
from mianshen_shared import city, testing
from mianshen_shared.db import transaction
from mianshen_shared.events import make_envelope, parse_envelope, parse_payload
from mianshen_shared.events.catalog import EntitlementDetermined, Payload
from mianshen_shared.topics import physical

from .factories import SPECIALIZED_SME_POLICY, city_policy, payment_for, published, title_record

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 25, 8, tzinfo=UTC)
SME = city_policy(SPECIALIZED_SME_POLICY)
PROVINCIAL_FEN = 50_000_000


async def send(topic: str, payload: Payload, key: str) -> None:
    envelope = make_envelope(payload, source="test", subject=key, correlation_id=f"c-{key}")
    await testing.produce(topic, envelope.to_bytes(), key=key)


class KilledMidChunk(Exception):
    pass


# --- payment.issued through Kafka ------------------------------------------------------------


async def test_a_payment_on_kafka_settles_the_entitlement_once_and_refuses_a_conflicting_one(
    pg_database, topic_prefix
) -> None:
    app = create_app(
        Settings(
            database_url=await pg_database("eligibility"),
            topic_prefix=topic_prefix,
            kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
            reevaluation_poll_seconds=0.2,
        )
    )
    records, policies, payments = (physical(t, topic_prefix) for t in ("department-records", "policies", "payments"))
    uscc = testing.make_uscc()
    title = title_record(uscc, "provincial_specialized")
    async with (
        app.router.lifespan_context(app),
        testing.TopicReader(physical("entitlements", topic_prefix)) as out,
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        await send(policies, published(SME), SME["id"])
        await send(records, title, uscc)
        found = await out.wait_for(lambda m: m.key.decode() == uscc)
        determined: Any = parse_payload(parse_envelope(found.value))

        payment = payment_for(determined)
        await send(payments, payment, uscc)
        await send(payments, payment, uscc)  # told again under a new event id
        await send(payments, payment_for(determined, amount_fen=PROVINCIAL_FEN * 2), uscc)

        async def settled() -> Any:
            [row] = (await client.get(f"/enterprises/{uscc}/entitlements")).json()["items"]
            return row if row["paid_fen"] is not None else None

        row = await testing.wait_for(settled)
        assert (row["paid_fen"], row["status"], row["amount_fen"]) == (PROVINCIAL_FEN, "active", PROVINCIAL_FEN)
        async with testing.TopicReader(physical("dead-letter", topic_prefix)) as dlq:
            message = await dlq.wait_for(lambda m: True)
            assert dict(message.headers)["dlq.reason"] == b"conflicting_payment"

        # A revocation after payment, and a higher title, leave the paid award alone.
        await send(records, title.model_copy(update={"action": "revoke", "attributes": {}}), uscc)
        await send(records, title_record(uscc, "national_little_giant"), uscc)

        async def both_titles_processed() -> bool:
            facts = (await client.get(f"/enterprises/{uscc}/facts")).json()["items"]
            return len(facts) == 2 and any(f["revoked"] for f in facts)

        await testing.wait_for(both_titles_processed)
        [row] = (await client.get(f"/enterprises/{uscc}/entitlements")).json()["items"]
        assert (row["status"], row["amount_fen"], row["paid_fen"]) == ("active", PROVINCIAL_FEN, PROVINCIAL_FEN)
        assessment = (await client.get(f"/enterprises/{uscc}/policies/{SME['id']}/assessment")).json()
        assert [(h["award_key"], h["amount_fen"]) for h in assessment["history"]] == [("once", PROVINCIAL_FEN)]
        assert assessment["awards"] == []
        await out.poll()
        changes = [parse_payload(e) for e in out.envelopes("entitlement.determined")]
        assert [(c.change, c.amount_fen) for c in changes if c.uscc == uscc] == [("new", PROVINCIAL_FEN)]  # type: ignore[attr-defined]


# --- the job worker on PostgreSQL ----------------------------------------------------------------


@pytest.fixture
async def app(pg_database):
    app = create_app(Settings(database_url=await pg_database("eligibility_jobs"), messaging_enabled=False))
    async with app.router.lifespan_context(app):
        yield app


async def seed(app: Any, usccs: list[str]) -> uuid.UUID:
    """Titles first, then the policy: everything is left to the job."""
    async with transaction(app.state.runtime.sessions) as session:
        repo = EligibilityRepository(session)
        await service.records_submitted(repo, city=city.current(), records=[title_record(u) for u in usccs], now=NOW)
        job = await service.policy_published(repo, event=published(SME), now=NOW, correlation_id="c-seed")
        assert job is not None
        return job.job_id


def worker(app: Any, **kwargs: Any) -> ReevaluationWorker:
    runtime = app.state.runtime
    return ReevaluationWorker(sessions=runtime.sessions, outbox=runtime.outbox, batch_size=3, **kwargs)


async def announced(app: Any) -> list[EntitlementDetermined]:
    async with transaction(app.state.runtime.sessions) as session:
        payloads = await session.scalars(sa.select(outbox_table.c.payload).order_by(outbox_table.c.id))
        return [parse_payload(parse_envelope(bytes(p))) for p in payloads]  # type: ignore[misc]


async def job_row(app: Any, job_id: uuid.UUID) -> ReevaluationJob:
    async with transaction(app.state.runtime.sessions) as session:
        job = await EligibilityRepository(session).get_job(job_id)
        assert job is not None
        return job


async def test_a_worker_killed_mid_chunk_loses_only_that_chunk_and_the_next_worker_finishes_once(app) -> None:
    usccs = sorted(testing.make_uscc() for _ in range(8))
    job_id = await seed(app, usccs)
    chunks = 0

    def die_in_the_second_chunk(job: ReevaluationJob) -> None:
        nonlocal chunks
        chunks += 1
        if chunks == 2:
            raise KilledMidChunk

    with pytest.raises(KilledMidChunk):
        await worker(app, before_commit=die_in_the_second_chunk).run_until_idle()
    job = await job_row(app, job_id)
    assert (job.status, job.done, job.total, job.determinations, job.cursor) == ("running", 3, 8, 3, usccs[2])
    assert [e.uscc for e in await announced(app)] == usccs[:3]

    await worker(app).run_until_idle()

    job = await job_row(app, job_id)
    assert (job.status, job.done, job.total, job.determinations) == ("done", 8, 8, 8)
    events = await announced(app)
    assert [e.uscc for e in events] == usccs, "each enterprise announced exactly once, in order"
    assert {(e.change, e.amount_fen) for e in events} == {("new", 200_000_000)}
    envelopes = await _envelopes(app)
    assert {e.correlationid for e in envelopes} == {"c-seed"}


async def _envelopes(app: Any) -> list[Any]:
    async with transaction(app.state.runtime.sessions) as session:
        return [parse_envelope(bytes(p)) for p in await session.scalars(sa.select(outbox_table.c.payload))]


async def test_a_job_the_worker_cannot_finish_is_marked_failed_with_the_reason(app) -> None:
    job_id = await seed(app, [testing.make_uscc() for _ in range(2)])

    def broken(job: ReevaluationJob) -> None:
        raise RuntimeError("磁盘已满")

    task = asyncio.create_task(worker(app, before_commit=broken, poll_seconds=0.05).run())
    try:

        async def failed() -> ReevaluationJob | None:
            job = await job_row(app, job_id)
            return job if job.status == "failed" else None

        job = await testing.wait_for(failed, timeout=10)
    finally:
        task.cancel()
    assert job.last_error == "处理失败：RuntimeError: 磁盘已满"
    assert (job.done, await announced(app)) == (0, [])


# --- operator routes and "why (not)?" ----------------------------------------------------------


@pytest.fixture
async def client(app):
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        yield client


async def test_operators_follow_jobs_newest_first_with_chinese_status_and_can_request_one(app, client) -> None:
    usccs = sorted(testing.make_uscc() for _ in range(4))
    published_job = await seed(app, usccs)
    await worker(app).run_until_idle()

    response = await client.post("/reevaluations", json={"policy_id": SME["id"]}, headers={"X-Correlation-ID": "op-1"})
    assert response.status_code == 202
    manual = response.json()
    assert (manual["reason"], manual["reason_text"], manual["status"], manual["status_text"]) == (
        "manual",
        "人工发起",
        "queued",
        "排队中",
    )
    busy = await client.post("/reevaluations", json={"policy_id": SME["id"]})
    assert (busy.status_code, busy.json()["code"], busy.json()["job_id"]) == (
        409,
        "reevaluation_in_progress",
        manual["job_id"],
    )

    page = (await client.get("/reevaluations", params={"limit": 1})).json()
    assert (page["total"], page["limit"], page["offset"]) == (2, 1, 0)
    assert [j["job_id"] for j in page["items"]] == [manual["job_id"]]
    [older] = (await client.get("/reevaluations", params={"limit": 1, "offset": 1})).json()["items"]
    assert older["job_id"] == str(published_job)
    assert (older["status"], older["done"], older["total"], older["determinations"]) == ("done", 4, 4, 4)
    assert older["status_text"] == "已完成：共比对4家企业，发出4项认定变更"

    await worker(app).run_until_idle()
    done = (await client.get(f"/reevaluations/{manual['job_id']}")).json()
    assert (done["status"], done["determinations"]) == ("done", 0)
    assert (await job_row(app, uuid.UUID(manual["job_id"]))).correlation_id == "op-1"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"policy_id": ', 400, "malformed_json"),
        (b"{}", 422, "validation_failed"),
        (b'{"policy_id": "zz-2022-02-specialized-sme-award", "force": true}', 422, "validation_failed"),
        (b'{"policy_id": ""}', 422, "validation_failed"),
        (b'{"policy_id": "zz-no-such-policy"}', 404, "policy_not_found"),
    ],
)
async def test_a_bad_reevaluation_request_is_refused_as_a_problem(client, body: bytes, status: int, code: str) -> None:
    response = await client.post("/reevaluations", content=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (f"/reevaluations/{uuid.uuid4()}", 404, "reevaluation_not_found"),
        ("/reevaluations/not-a-uuid", 422, "validation_failed"),
        ("/reevaluations?limit=0", 422, "validation_failed"),
        ("/reevaluations?limit=201", 422, "validation_failed"),
        ("/reevaluations?offset=-1", 422, "validation_failed"),
    ],
)
async def test_bad_job_lookups_are_problems(client, path: str, status: int, code: str) -> None:
    response = await client.get(path)
    assert (response.status_code, response.json()["code"]) == (status, code)


async def test_an_enterprise_asking_why_sees_its_own_facts_checks_and_amount(app, client) -> None:
    mine, theirs = sorted(testing.make_uscc() for _ in range(2))
    await seed(app, [mine, theirs])

    response = await client.get(f"/enterprises/{mine}/policies/{SME['id']}/assessment")

    assert response.status_code == 200
    body = response.json()
    assert (body["uscc"], body["policy_id"], body["policy_version"], body["eligible"]) == (mine, SME["id"], 1, True)
    assert body["legal_basis"].startswith("《") and body["summary"]
    assert all({"text", "met"} <= set(c) for c in body["checks"]) and body["checks"]
    [award] = body["awards"]
    assert (award["award_key"], award["amount_fen"]) == ("once", 200_000_000)
    assert award["explanation"]["computation"]
    [fact] = body["facts"]
    assert (fact["department"], fact["record_type"], fact["effective_date"]) == (
        "gxj",
        "miit.sme_title_recognized",
        "2022-06-01",
    )
    assert body["history"] == []
    their_facts = (await client.get(f"/enterprises/{theirs}/facts")).json()["items"]
    assert fact["record_id"] not in {f["record_id"] for f in their_facts}, "only the asking enterprise's data"


async def test_an_enterprise_without_the_facts_is_told_why_not(app, client) -> None:
    await seed(app, [testing.make_uscc()])
    body = (await client.get(f"/enterprises/{testing.make_uscc()}/policies/{SME['id']}/assessment")).json()
    assert (body["eligible"], body["awards"], body["facts"]) == (False, [], [])
    assert body["summary"]


@pytest.mark.parametrize(
    ("uscc", "policy_id", "status", "code"),
    [
        ("not-a-code", SME["id"], 422, "invalid_uscc"),
        ("91410105MA9DEM01X0", SME["id"], 422, "invalid_uscc"),
        (None, "zz-no-such-policy", 404, "policy_not_found"),
    ],
)
async def test_a_bad_assessment_question_is_a_problem(app, client, uscc, policy_id, status, code) -> None:
    await seed(app, [testing.make_uscc()])
    response = await client.get(f"/enterprises/{uscc or testing.make_uscc()}/policies/{policy_id}/assessment")
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert response.headers["content-type"] == "application/problem+json"
