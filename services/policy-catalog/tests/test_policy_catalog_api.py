"""policy-catalog's API on the real PostgreSQL and Kafka: the review lifecycle,
separation of duties, effective dates, history, 办事指南, refusals, the events that
leave through the outbox, the seed command and the lifecycle migration."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
import yaml
from alembic import command
from httpx import ASGITransport, AsyncClient, Response

from mianshen_shared import db, testing
from mianshen_shared.events import parse_payload
from mianshen_shared.topics import physical
from policy_catalog.config import Settings
from policy_catalog.main import create_app
from policy_catalog.seed import seed
from policy_catalog.service import shanghai_date

from .factories import POLICY_ID, document_whose_case_fails, policy_document

pytestmark = pytest.mark.integration
EDITOR = {"X-Actor": "li.editor"}
PUBLISHER = {"X-Actor": "zhao.publisher@gov"}
V1 = f"/policies/{POLICY_ID}/versions/1"
V2 = f"/policies/{POLICY_ID}/versions/2"


async def make_settings(pg_database, topic_prefix) -> Settings:
    return Settings(
        database_url=await pg_database("policy_catalog"),
        topic_prefix=topic_prefix,
        kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield client


def today() -> date:
    return shanghai_date(datetime.now(UTC))


def assert_problem(response: Response, status: int, code: str) -> dict:
    assert (response.status_code, response.headers["content-type"]) == (status, "application/problem+json"), (
        response.text
    )
    body = response.json()
    assert body["code"] == code
    return body


async def publish_new(client: AsyncClient, document: dict, **body: str) -> Response:
    """Draft and submit as the editor, publish as someone else."""
    version = f"/policies/{document['id']}/versions/{document['version']}"
    assert (await client.post("/policies", json=document, headers=EDITOR)).status_code == 201
    assert (await client.post(f"{version}/submit", headers=EDITOR)).status_code == 200
    return await client.post(f"{version}/publish", json=body or None, headers=PUBLISHER)


async def test_a_policy_goes_from_draft_through_review_to_publication_and_retirement(pg_database, topic_prefix) -> None:
    async with running(await make_settings(pg_database, topic_prefix)) as client:
        created = await client.post("/policies", json=policy_document(), headers=EDITOR)
        assert created.status_code == 201
        assert (created.json()["status"], created.json()["version"], created.json()["created_by"]) == (
            "draft",
            1,
            "li.editor",
        )
        assert (await client.post("/policies", json=policy_document(), headers=EDITOR)).status_code == 200
        assert (await client.get("/policies")).json()["items"] == [], "a draft is not in force"
        assert_problem(await client.post(f"{V1}/publish", headers=PUBLISHER), 409, "policy_not_submitted")

        submitted = await client.post(f"{V1}/submit", headers=EDITOR)
        assert (submitted.status_code, submitted.json()["status"]) == (200, "submitted")
        own = assert_problem(await client.post(f"{V1}/publish", headers=EDITOR), 403, "separation_of_duties")
        assert own["detail"] == "编辑或提交该政策的人员不能发布该政策"

        published = await client.post(f"{V1}/publish", headers=PUBLISHER)
        assert published.status_code == 200, published.text
        assert (published.json()["status"], published.json()["published_by"]) == ("published", "zhao.publisher@gov")
        assert published.json()["effective_from"] == today().isoformat()
        again = await client.post(f"{V1}/publish", headers=PUBLISHER)
        assert again.json()["published_at"] == published.json()["published_at"]

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
            "version_effective_from": today().isoformat(),
        }
        assert (await client.get(f"/policies/{POLICY_ID}")).json()["document"] == policy_document()

        later = (today() + timedelta(days=10)).isoformat()
        v2 = await publish_new(client, policy_document(version=2, per_item_fen=30_000_000), effective_from=later)
        assert (v2.status_code, v2.json()["effective_from"]) == (200, later)
        assert (v2.json()["announced_at"], v2.json()["status_text"]) == (None, f"已发布，{later}起施行")
        assert published.json()["announced_at"] == published.json()["published_at"]
        assert published.json()["status_text"] == "已发布"
        assert (await client.get(f"/policies/{POLICY_ID}")).json()["version"] == 1, "v2 is not yet in force"
        assert (await client.get(f"/policies/{POLICY_ID}", params={"on": later})).json()["version"] == 2
        assert (await client.get("/policies", params={"on": later})).json()["items"][0]["version"] == 2
        assert_problem(await client.get(f"/policies/{POLICY_ID}", params={"on": "2021-01-01"}), 404, "policy_not_found")

        retired = await client.post(f"{V2}/retire", json={"reason": "发布有误"}, headers=PUBLISHER)
        assert (retired.status_code, retired.json()["status"], retired.json()["retired_by"]) == (
            200,
            "retired",
            "zhao.publisher@gov",
        )
        assert (await client.get(f"/policies/{POLICY_ID}", params={"on": later})).json()["version"] == 1, (
            "a version retired before it took effect leaves the previous one in force"
        )
        await client.post(f"{V1}/retire", json={"reason": "政策到期"}, headers={"X-Actor": "sun.operator"})
        assert (await client.get("/policies")).json()["items"] == []
        assert_problem(await client.get(f"/policies/{POLICY_ID}"), 404, "policy_not_found")

        versions = (await client.get(f"/policies/{POLICY_ID}/versions")).json()["items"]
        assert [(v["version"], v["status"], v["retired_reason"], v["created_by"]) for v in versions] == [
            (1, "retired", "政策到期", "li.editor"),
            (2, "retired", "发布有误", "li.editor"),
        ]
        one = (await client.get(V1)).json()
        assert (one["submitted_by"], one["published_by"], one["retired_by"]) == (
            "li.editor",
            "zhao.publisher@gov",
            "sun.operator",
        )
        history = (await client.get(f"{V1}/history")).json()["items"]
        assert [(h["action"], h["from_status"], h["to_status"], h["actor"], h["reason"]) for h in history] == [
            ("create", None, "draft", "li.editor", None),
            ("submit", "draft", "submitted", "li.editor", None),
            ("publish", "submitted", "published", "zhao.publisher@gov", None),
            ("retire", "published", "retired", "sun.operator", "政策到期"),
        ]

        async with testing.TopicReader(physical("policies", topic_prefix)) as topic:
            # The relay keeps the outbox's order, so once v1's retirement is there so is everything before it.
            await topic.wait_for(lambda m: len(topic.envelopes("policy.retired")) >= 1)
            events = [parse_payload(e) for e in topic.envelopes()]  # type: ignore[attr-defined]
            assert {m.key for m in topic.messages} == {POLICY_ID.encode()}
        assert [(e.__class__.__name__, e.version) for e in events] == [("PolicyPublished", 1), ("PolicyRetired", 1)], (
            "v2 was retired before its day: neither its publication nor its retirement reached eligibility"
        )
        assert events[0].effective_from == today()  # type: ignore[attr-defined]


async def test_a_submission_can_be_withdrawn_or_rejected_back_to_draft_and_edited(pg_database, topic_prefix) -> None:
    async with running(await make_settings(pg_database, topic_prefix)) as client:
        await client.post("/policies", json=policy_document(), headers=EDITOR)
        await client.post(f"{V1}/submit", headers=EDITOR)
        frozen = await client.post("/policies", json=policy_document(per_item_fen=1), headers=EDITOR)
        assert assert_problem(frozen, 409, "policy_version_conflict")["policy_status"] == "submitted"

        rejected = await client.post(f"{V1}/reject", json={"reason": "金额与原文不符"}, headers=PUBLISHER)
        assert (rejected.status_code, rejected.json()["status"], rejected.json()["submitted_by"]) == (
            200,
            "draft",
            None,
        )
        edited = await client.post("/policies", json=policy_document(per_item_fen=1_000_000), headers=EDITOR)
        assert (edited.status_code, edited.json()["document"]["award"]["amount_per_item_fen"]) == (200, 1_000_000)
        await client.post(f"{V1}/submit", headers=EDITOR)
        withdrawn = await client.post(f"{V1}/withdraw", json={"reason": "待财政局复核"}, headers=EDITOR)
        assert withdrawn.json()["status"] == "draft"
        assert_problem(
            await client.post(f"{V1}/withdraw", json={"reason": "x"}, headers=EDITOR), 409, "policy_not_submitted"
        )

        history = (await client.get(f"{V1}/history")).json()["items"]
        assert [(h["action"], h["actor"], h["reason"]) for h in history] == [
            ("create", "li.editor", None),
            ("submit", "li.editor", None),
            ("reject", "zhao.publisher@gov", "金额与原文不符"),
            ("edit", "li.editor", None),
            ("submit", "li.editor", None),
            ("withdraw", "li.editor", "待财政局复核"),
        ]


async def test_run_cases__submitting_a_document_whose_case_fails_answers_with_each_failure(
    pg_database, topic_prefix
) -> None:
    async with running(await make_settings(pg_database, topic_prefix)) as client:
        assert (await client.post("/policies", json=document_whose_case_fails(), headers=EDITOR)).status_code == 201
        body = assert_problem(await client.post(f"{V1}/submit", headers=EDITOR), 422, "policy_invalid")
        [failure] = body["errors"]
        assert failure["field"] == "cases[0]（获评一个解决方案，奖励一次）" and "30万元" in failure["message"]
        assert (await client.get(V1)).json()["status"] == "draft"
        assert [h["action"] for h in (await client.get(f"{V1}/history")).json()["items"]] == ["create"]
        assert_problem(await client.post(f"{V1}/publish", headers=PUBLISHER), 409, "policy_not_submitted")


async def test_the_guide_of_a_published_policy_is_served_as_html_or_markdown(pg_database, topic_prefix) -> None:
    async with running(await make_settings(pg_database, topic_prefix)) as client:
        assert (await publish_new(client, policy_document())).status_code == 200
        await client.post("/policies", json=policy_document(policy_id="zz-test-draft-only"), headers=EDITOR)

        page = await client.get(f"/policies/{POLICY_ID}/guide")
        assert (page.status_code, page.headers["content-type"]) == (200, "text/html; charset=utf-8")
        assert page.text.startswith("<!DOCTYPE html>")
        assert "20万元" in page.text and "市工信局" in page.text and "办事指南" in page.text

        markdown = await client.get(f"/policies/{POLICY_ID}/guide", params={"format": "markdown"})
        assert (markdown.status_code, markdown.headers["content-type"]) == (200, "text/markdown; charset=utf-8")
        assert markdown.text.startswith("# 工业APP优秀解决方案奖励 办事指南")
        assert "- 每项：20万元" in markdown.text

        assert_problem(await client.get("/policies/zz-never-heard-of/guide"), 404, "policy_not_found")
        assert_problem(await client.get("/policies/zz-test-draft-only/guide"), 404, "policy_not_found")
        bad_format = assert_problem(
            await client.get(f"/policies/{POLICY_ID}/guide", params={"format": "pdf"}), 422, "validation_failed"
        )
        assert bad_format["errors"][0]["field"] == "query.format"
        assert_problem(
            await client.get(f"/policies/{POLICY_ID}/guide", params={"on": "2026-02-30"}), 422, "validation_failed"
        )


async def test_bad_requests_are_refused_with_problem_details(pg_database, topic_prefix) -> None:
    async with running(await make_settings(pg_database, topic_prefix)) as client:
        steps = [
            ("/policies", policy_document()),
            (f"{V1}/submit", None),
            (f"{V1}/withdraw", {"reason": "x"}),
            (f"{V1}/reject", {"reason": "x"}),
            (f"{V1}/publish", None),
            (f"{V1}/retire", {"reason": "x"}),
        ]
        for path, body in steps:
            missing = assert_problem(await client.post(path, json=body), 400, "actor_required")
            assert "X-Actor" in missing["detail"]
            for bad_actor in ("li editor", "x" * 65, "李编辑"):
                headers = {"X-Actor": bad_actor.encode()}
                assert_problem(await client.post(path, json=body, headers=headers), 400, "actor_invalid")

        invalid = await client.post("/policies", json=policy_document() | {"list_no": 0, "surprise": 1}, headers=EDITOR)
        assert "surprise" in {e["field"] for e in assert_problem(invalid, 422, "policy_invalid")["errors"]}
        malformed = await client.post(
            "/policies", content=b'{"id": ', headers={"content-type": "application/json", **EDITOR}
        )
        assert_problem(malformed, 400, "malformed_json")
        assert (await client.post("/policies", json=[policy_document()], headers=EDITOR)).status_code == 422

        await client.post("/policies", json=policy_document(), headers=EDITOR)
        assert_problem(
            await client.post(f"{V1}/retire", json={"reason": "x"}, headers=PUBLISHER), 409, "policy_not_published"
        )
        await client.post(f"{V1}/submit", headers=EDITOR)
        publish = f"{V1}/publish"
        unknown = assert_problem(
            await client.post(publish, json={"effective_from": None, "by": "me"}, headers=PUBLISHER),
            422,
            "validation_failed",
        )
        assert (unknown["errors"][0]["field"], unknown["errors"][0]["code"]) == ("by", "extra_forbidden")
        not_a_date = await client.post(publish, json={"effective_from": "2026-13-01"}, headers=PUBLISHER)
        assert assert_problem(not_a_date, 422, "validation_failed")["errors"][0]["field"] == "effective_from"
        past = (today() - timedelta(days=1)).isoformat()
        assert_problem(
            await client.post(publish, json={"effective_from": past}, headers=PUBLISHER), 422, "effective_from_in_past"
        )
        malformed_publish = await client.post(
            publish, content=b"{", headers={"content-type": "application/json", **PUBLISHER}
        )
        assert_problem(malformed_publish, 400, "malformed_json")

        for path in (f"{V1}/withdraw", f"{V1}/reject", f"{V1}/retire"):
            assert (
                assert_problem(await client.post(path, json={}, headers=EDITOR), 422, "validation_failed")["errors"][0][
                    "field"
                ]
                == "reason"
            )
            extra = assert_problem(
                await client.post(path, json={"reason": "x", "by": "me"}, headers=EDITOR), 422, "validation_failed"
            )
            assert extra["errors"][0]["code"] == "extra_forbidden"

        assert_problem(
            await client.post(f"/policies/{POLICY_ID}/versions/9/publish", headers=PUBLISHER), 404, "policy_not_found"
        )
        assert (await client.post(f"/policies/{POLICY_ID}/versions/0/publish", headers=PUBLISHER)).status_code == 422
        assert (await client.post("/policies/bad%20id!/versions/1/publish", headers=PUBLISHER)).status_code == 422
        assert_problem(await client.get("/policies/zz-never-heard-of/versions"), 404, "policy_not_found")
        assert_problem(await client.get(f"/policies/{POLICY_ID}/versions/9/history"), 404, "policy_not_found")
        assert_problem(await client.get(f"/policies/{POLICY_ID}/versions/9"), 404, "policy_not_found")
        assert_problem(await client.get("/policies", params={"on": "yesterday"}), 422, "validation_failed")
        assert (await client.get(V1)).json()["status"] == "submitted", "no refused call changed the version"


async def test_seeding_submits_as_the_editor_and_publishes_as_the_publisher_once(
    pg_database, topic_prefix, tmp_path
) -> None:
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
            history = (await client.get(f"{V2}/history")).json()["items"]
            assert [(h["action"], h["actor"]) for h in history] == [
                ("create", "seed-editor"),
                ("submit", "seed-editor"),
                ("publish", "seed-publisher"),
            ]
    assert len(topic.envelopes("policy.published")) == 2


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
async def test_the_lifecycle_migration_dates_versions_published_before_it(engine: str, pg_database, tmp_path) -> None:
    url = await pg_database("policy_catalog") if engine == "postgresql" else f"sqlite+aiosqlite:///{tmp_path}/pc.db"
    config = db.alembic_config("policy_catalog.migrations", url)
    await asyncio.to_thread(command.upgrade, config, "0001")
    published_at = datetime(2026, 3, 1, 20, tzinfo=UTC)  # 2 March in Zhengzhou
    rows = [
        (1, "retired", published_at, published_at + timedelta(days=40)),
        (2, "published", published_at + timedelta(days=50), None),
        (3, "retired", None, published_at),  # a draft retired under the old rules: never in force
    ]
    engine_ = db.make_engine(url)
    try:
        async with engine_.begin() as conn:
            for version, status, published, retired in rows:
                document = policy_document(version=version)
                await conn.execute(
                    sa.text(
                        "INSERT INTO policy_versions (policy_id, version, status, title, benefit_kind, document,"
                        " created_at, published_at, retired_at)"
                        " VALUES (:p, :v, :s, 't', 'cash_award', :d, :c, :pa, :ra)"
                    ).bindparams(sa.bindparam("d", type_=sa.JSON)),
                    {
                        "p": POLICY_ID,
                        "v": version,
                        "s": status,
                        "d": document,
                        "c": published_at,
                        "pa": published,
                        "ra": retired,
                    },
                )
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine_.connect() as conn:
            found = (
                await conn.execute(
                    sa.text("SELECT version, effective_from, retired_on FROM policy_versions ORDER BY version")
                )
            ).all()
        as_dates = [(v, str(e) if e else None, str(r) if r else None) for v, e, r in found]
        assert as_dates == [(1, "2026-03-02", "2026-04-11"), (2, "2026-04-21", None), (3, None, None)]
        await asyncio.to_thread(command.downgrade, config, "0001")
    finally:
        await engine_.dispose()
