"""eligibility on the real Kafka and PostgreSQL: policies and department records in,
exact entitlements out, refused records to the dead-letter topic."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from eligibility.config import Settings
from eligibility.main import create_app
from mianshen_shared import testing
from mianshen_shared.events import make_envelope, parse_payload
from mianshen_shared.events.catalog import EntitlementDetermined, Payload
from mianshen_shared.topics import physical

from .factories import LITTLE_GIANT_FEN, PROVINCIAL_FEN, SME_POLICY_ID, published, retired, sme_policy, title_record

pytestmark = pytest.mark.integration


async def send(topic: str, payload: Payload, key: str) -> None:
    envelope = make_envelope(payload, source="test", subject=key, correlation_id=f"c-{key}")
    await testing.produce(topic, envelope.to_bytes(), key=key)


def determinations(reader: testing.TopicReader, uscc: str) -> list[tuple[str, int, int | None]]:
    events: list[Any] = [parse_payload(e) for e in reader.envelopes("entitlement.determined")]
    return [(e.change, e.amount_fen, e.previous_amount_fen) for e in events if e.uscc == uscc]


async def running_app(pg_database, topic_prefix):
    settings = Settings(
        database_url=await pg_database("eligibility"),
        topic_prefix=topic_prefix,
        kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
    )
    return create_app(settings)


async def test_titles_determine_exact_amounts_and_revocation_and_retirement_withdraw(pg_database, topic_prefix) -> None:
    app = await running_app(pg_database, topic_prefix)
    records, policies = physical("department-records", topic_prefix), physical("policies", topic_prefix)
    early, climber, revoked = testing.make_uscc(), testing.make_uscc(), testing.make_uscc()
    async with app.router.lifespan_context(app), testing.TopicReader(physical("entitlements", topic_prefix)) as out:
        # A fact that arrived before the policy is determined when the policy is published.
        await send(records, title_record(early), early)
        await send(policies, published(sme_policy()), SME_POLICY_ID)
        await out.wait_for(lambda m: m.key.decode() == early)

        provincial, giant = title_record(climber, "provincial_specialized"), title_record(climber)
        await send(records, provincial, climber)
        await send(records, giant, climber)
        await send(records, giant, climber)  # the department pushes the same record again
        # Revoking the provincial title changes the facts behind the 200万元 award, not its amount.
        await send(
            records, title_record(climber, record_id=provincial.record_id, action="revoke", attributes={}), climber
        )

        doomed = title_record(revoked)
        await send(records, doomed, revoked)
        await send(records, title_record(revoked, record_id=doomed.record_id, action="revoke", attributes={}), revoked)

        await out.wait_for(lambda m: m.key.decode() == revoked and len(determinations(out, revoked)) == 2)
        await testing.wait_for(lambda: _poll_until(out, climber, 3))
        assert determinations(out, early) == [("new", LITTLE_GIANT_FEN, None)]
        assert determinations(out, climber) == [
            ("new", PROVINCIAL_FEN, None),
            ("changed", LITTLE_GIANT_FEN, PROVINCIAL_FEN),
            ("changed", LITTLE_GIANT_FEN, LITTLE_GIANT_FEN),
        ], "the repeated push determined something"
        assert determinations(out, revoked) == [("new", LITTLE_GIANT_FEN, None), ("withdrawn", 0, LITTLE_GIANT_FEN)]
        last: EntitlementDetermined = parse_payload(out.envelopes("entitlement.determined")[-1])  # type: ignore[assignment]
        assert last.policy_title == "专精特新企业奖励" and last.benefit_kind == "cash_award"

        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            [row] = (await client.get(f"/enterprises/{climber}/entitlements")).json()["items"]
            assert (row["status"], row["amount_fen"], row["policy_version"]) == ("active", LITTLE_GIANT_FEN, 1)
            assert [f["record_id"] for f in row["explanation"]["facts"]] == [giant.record_id]
            summary = (await client.get(f"/enterprises/{climber}/eligibility-summary")).json()
            assert summary == {
                "uscc": climber,
                "total_amount_fen": LITTLE_GIANT_FEN,
                "policies": [
                    {"policy_id": SME_POLICY_ID, "policy_title": "专精特新企业奖励", "amount_fen": LITTLE_GIANT_FEN}
                ],
            }
            facts = (await client.get(f"/enterprises/{climber}/facts")).json()["items"]
            assert {(f["record_id"], f["revoked"]) for f in facts} == {
                (provincial.record_id, True),
                (giant.record_id, False),
            }
            [gone] = (await client.get(f"/enterprises/{revoked}/entitlements")).json()["items"]
            assert (gone["status"], gone["amount_fen"]) == ("withdrawn", 0)

        await send(policies, retired(sme_policy(), reason="政策到期"), SME_POLICY_ID)
        await testing.wait_for(lambda: _poll_until(out, early, 2))
        await testing.wait_for(lambda: _poll_until(out, climber, 4))
        await out.poll()
        assert determinations(out, early)[-1] == ("withdrawn", 0, LITTLE_GIANT_FEN)
        assert determinations(out, climber)[-1] == ("withdrawn", 0, LITTLE_GIANT_FEN)
        assert len(determinations(out, revoked)) == 2, "an already withdrawn entitlement was withdrawn again"


async def _poll_until(reader: testing.TopicReader, uscc: str, count: int) -> bool:
    await reader.poll()
    return len(determinations(reader, uscc)) >= count


async def test_refused_records_are_dead_lettered_while_the_next_record_is_processed(pg_database, topic_prefix) -> None:
    app = await running_app(pg_database, topic_prefix)
    records, policies = physical("department-records", topic_prefix), physical("policies", topic_prefix)
    uscc = testing.make_uscc()
    bad_attributes = title_record(uscc, attributes={"title": "world_champion", "document_no": "x"})
    unknown_type = title_record(uscc, record_type="miit.unknown_kind")
    async with app.router.lifespan_context(app):
        await send(policies, published(sme_policy()), SME_POLICY_ID)
        await send(records, bad_attributes, uscc)
        await send(records, unknown_type, uscc)
        await send(records, title_record(uscc), uscc)

        async with testing.TopicReader(physical("entitlements", topic_prefix)) as out:
            await out.wait_for(lambda m: m.key.decode() == uscc)
            assert determinations(out, uscc) == [("new", LITTLE_GIANT_FEN, None)]
        async with testing.TopicReader(physical("dead-letter", topic_prefix)) as dlq:
            await testing.wait_for(lambda: _dead_letters(dlq, 2))
            reasons = {
                parse_payload(e).record_id: dict(m.headers)["dlq.reason"]  # type: ignore[attr-defined]
                for m, e in zip(dlq.messages, dlq.envelopes(), strict=True)
            }
        assert reasons == {
            bad_attributes.record_id: b"invalid_attributes",
            unknown_type.record_id: b"unknown_record_type",
        }

        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            assert [f["record_type"] for f in (await client.get(f"/enterprises/{uscc}/facts")).json()["items"]] == [
                "miit.sme_title_recognized"
            ]
            assert (await client.get(f"/enterprises/{testing.make_uscc()}/entitlements")).json()["items"] == []
            for bad in ("not-a-code", uscc[:-1] + ("0" if uscc[-1] != "0" else "1")):
                response = await client.get(f"/enterprises/{bad}/eligibility-summary")
                assert response.status_code == 422
                assert response.headers["content-type"] == "application/problem+json"


async def _dead_letters(reader: testing.TopicReader, count: int) -> bool:
    await reader.poll()
    return len(reader.messages) >= count
