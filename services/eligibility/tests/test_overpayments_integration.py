"""回头看 on the real Kafka and PostgreSQL: after the record behind a paid award is
revoked, `entitlement.overpaid` is announced once — not again for a repeated or
redelivered revocation, and not at all for a correction that leaves the amount."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from eligibility.config import Settings
from eligibility.main import create_app
from mianshen_shared import testing
from mianshen_shared.events import make_envelope, parse_envelope, parse_payload
from mianshen_shared.topics import physical

from .factories import SPECIALIZED_SME_POLICY, city_policy, payment_for, published, title_record

pytestmark = pytest.mark.integration
SME = city_policy(SPECIALIZED_SME_POLICY)
GIANT_FEN = 200_000_000


async def test_a_revoked_record_behind_a_paid_award_is_announced_overpaid_once(pg_database, topic_prefix) -> None:
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
    title = title_record(uscc)

    async def send(topic: str, payload: Any, key: str) -> bytes:
        envelope = make_envelope(payload, source="test", subject=key, correlation_id="c-overpaid")
        await testing.produce(topic, envelope.to_bytes(), key=key)
        return envelope.to_bytes()

    async with (
        app.router.lifespan_context(app),
        testing.TopicReader(physical("entitlements", topic_prefix)) as out,
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):

        async def facts() -> list[dict[str, Any]]:
            return (await client.get(f"/enterprises/{uscc}/facts")).json()["items"]  # type: ignore[no-any-return]

        await send(policies, published(SME), SME["id"])
        await send(records, title, uscc)
        found = await out.wait_for(lambda m: m.key.decode() == uscc)
        determined: Any = parse_payload(parse_envelope(found.value))
        await send(payments, payment_for(determined), uscc)

        async def settled() -> bool:
            [row] = (await client.get(f"/enterprises/{uscc}/entitlements")).json()["items"]
            return row["paid_fen"] is not None

        await testing.wait_for(settled)

        # A correction of the document number: the award is the same, nothing is owed back.
        renumbered = title.model_copy(
            update={"attributes": {"title": "national_little_giant", "document_no": "工信部企业函〔2022〕999号"}}
        )
        await send(records, renumbered, uscc)

        async def renumbered_on_record() -> bool:
            return (await facts())[0]["attributes"]["document_no"].endswith("999号")

        await testing.wait_for(renumbered_on_record)
        for _ in range(5):
            await out.poll()
        assert out.envelopes("entitlement.overpaid") == []

        revocation = title.model_copy(update={"action": "revoke", "attributes": {}})
        sent = await send(records, revocation, uscc)
        await testing.produce(records, sent, key=uscc)  # redelivered: the same event id
        await send(records, revocation, uscc)  # told again under a new event id

        await out.wait_for(lambda _m: bool(out.envelopes("entitlement.overpaid")))
        await testing.wait_for(lambda: _revoked(facts))
        for _ in range(10):  # a second announcement would show up now
            await out.poll()
        findings = [parse_payload(e) for e in out.envelopes("entitlement.overpaid")]
        assert len(findings) == 1
        [finding] = findings
        assert (finding.entitlement_id, finding.paid_fen, finding.due_fen, finding.explanation) == (  # type: ignore[attr-defined]
            determined.entitlement_id,
            GIANT_FEN,
            0,
            None,
        )
        assert title.record_id in finding.reason  # type: ignore[attr-defined]
        [row] = (await client.get(f"/enterprises/{uscc}/entitlements")).json()["items"]
        assert (row["status"], row["amount_fen"], row["paid_fen"]) == ("active", GIANT_FEN, GIANT_FEN)


async def _revoked(facts: Any) -> bool:
    return all(f["revoked"] for f in await facts())
