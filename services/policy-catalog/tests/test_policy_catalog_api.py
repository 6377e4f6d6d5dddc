"""policy-catalog's API on the real PostgreSQL and Kafka: drafts, publication,
retirement, idempotency, refusals, and the events that leave through the outbox."""

from __future__ import annotations

import pytest
import yaml
from httpx import ASGITransport, AsyncClient

from mianshen_shared import testing
from mianshen_shared.events import parse_payload
from mianshen_shared.topics import physical
from policy_catalog.config import Settings
from policy_catalog.main import create_app
from policy_catalog.seed import seed

from .factories import POLICY_ID, policy_document

pytestmark = pytest.mark.integration
PUBLISH = f"/policies/{POLICY_ID}/versions/1/publish"


async def make_settings(pg_database, topic_prefix) -> Settings:
    return Settings(
        database_url=await pg_database("policy_catalog"),
        topic_prefix=topic_prefix,
        kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
    )


async def test_a_policy_is_drafted_published_listed_and_retired(pg_database, topic_prefix) -> None:
    app = create_app(await make_settings(pg_database, topic_prefix))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        created = await client.post("/policies", json=policy_document())
        assert created.status_code == 201
        assert (created.json()["status"], created.json()["version"]) == ("draft", 1)
        assert (await client.post("/policies", json=policy_document())).status_code == 200
        assert (await client.get("/policies")).json()["items"] == [], "a draft is not in force"

        published = await client.post(PUBLISH)
        assert (published.status_code, published.json()["status"]) == (200, "published")
        assert (await client.post(PUBLISH)).json()["published_at"] == published.json()["published_at"]

        [listed] = (await client.get("/policies")).json()["items"]
        assert listed == {
            "policy_id": POLICY_ID,
            "version": 1,
            "title": "工业APP优秀解决方案奖励",
            "batch": "第一批",
            "list_no": 7,
            "lead_department": "市工信局",
            "legal_basis": {"title": "郑州市推进工业互联网发展若干措施", "number": "郑政办〔2022〕2号"},
            "benefit_kind": "cash_award",
            "effective_from": "2022-01-01",
            "effective_to": "2025-12-31",
        }
        assert (await client.get(f"/policies/{POLICY_ID}")).json()["document"] == policy_document()

        await client.post("/policies", json=policy_document(version=2, per_item_fen=30_000_000))
        assert (await client.get(f"/policies/{POLICY_ID}")).json()["version"] == 1
        await client.post(f"/policies/{POLICY_ID}/versions/2/publish")
        assert (await client.get(f"/policies/{POLICY_ID}")).json()["version"] == 2

        retired = await client.post(f"/policies/{POLICY_ID}/versions/2/retire", json={"reason": "政策到期"})
        assert (retired.status_code, retired.json()["status"]) == (200, "retired")
        assert (await client.get("/policies")).json()["items"] == []
        assert (await client.get(f"/policies/{POLICY_ID}")).status_code == 404
        versions = (await client.get(f"/policies/{POLICY_ID}/versions")).json()["items"]
        assert [(v["version"], v["status"], v["retired_reason"]) for v in versions] == [
            (1, "published", None),
            (2, "retired", "政策到期"),
        ]

        async with testing.TopicReader(physical("policies", topic_prefix)) as topic:
            await topic.wait_for(lambda m: len(topic.envelopes()) >= 3)
            events = [(e.type, parse_payload(e).version) for e in topic.envelopes()]  # type: ignore[attr-defined]
            assert {m.key for m in topic.messages} == {POLICY_ID.encode()}
        assert events == [("policy.published", 1), ("policy.published", 2), ("policy.retired", 2)]


async def test_bad_requests_are_refused_with_problem_details(pg_database, topic_prefix) -> None:
    app = create_app(await make_settings(pg_database, topic_prefix))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        invalid = await client.post("/policies", json=policy_document() | {"list_no": 0, "surprise": 1})
        assert (invalid.status_code, invalid.json()["code"]) == (422, "policy_invalid")
        assert invalid.headers["content-type"] == "application/problem+json"
        assert any("surprise" in e for e in invalid.json()["errors"])

        malformed = await client.post("/policies", content=b'{"id": ', headers={"content-type": "application/json"})
        assert (malformed.status_code, malformed.json()["code"]) == (400, "malformed_json")
        assert (await client.post("/policies", json=[policy_document()])).status_code == 422

        await client.post("/policies", json=policy_document())
        conflict = await client.post("/policies", json=policy_document(per_item_fen=1))
        assert (conflict.status_code, conflict.json()["code"]) == (409, "policy_version_conflict")

        assert (await client.post(f"/policies/{POLICY_ID}/versions/9/publish")).status_code == 404
        assert (await client.post(f"/policies/{POLICY_ID}/versions/0/publish")).status_code == 422
        assert (await client.post("/policies/bad%20id!/versions/1/publish")).status_code == 422
        retire = f"/policies/{POLICY_ID}/versions/1/retire"
        assert (await client.post(retire, json={})).json()["errors"][0]["field"] == "reason"
        assert (await client.post(retire, json={"reason": "到期", "by": "me"})).json()["errors"][0][
            "code"
        ] == "extra_forbidden"
        assert (await client.get("/policies/zz-never-heard-of/versions")).status_code == 404


async def test_seeding_publishes_every_file_once(pg_database, topic_prefix, tmp_path) -> None:
    for version in (1, 2):
        document = policy_document(version=version, per_item_fen=10_000_000 * version)
        (tmp_path / f"{POLICY_ID}-v{version}.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    settings = await make_settings(pg_database, topic_prefix)

    first = await seed(tmp_path, settings)
    again = await seed(tmp_path, settings)
    assert (first.published, again.published) == ([f"{POLICY_ID} v1", f"{POLICY_ID} v2"], [])
    assert again.unchanged == first.published

    app = create_app(settings)  # its relay publishes what the seed left in the outbox
    async with app.router.lifespan_context(app), testing.TopicReader(physical("policies", topic_prefix)) as topic:
        await topic.wait_for(lambda m: len(topic.envelopes("policy.published")) >= 2)
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            assert [p["version"] for p in (await client.get("/policies")).json()["items"]] == [2]
    assert len(topic.envelopes("policy.published")) == 2
