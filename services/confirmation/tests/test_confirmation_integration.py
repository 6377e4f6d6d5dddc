"""confirmation on the real Kafka and PostgreSQL: determinations in, requests out,
answers over HTTP, and the status view following credit and payment outcomes."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import ASGITransport, AsyncClient

from confirmation.bootstrap import sweep_once
from confirmation.config import Settings
from confirmation.main import create_app
from confirmation.models import Confirmation
from mianshen_shared import testing
from mianshen_shared.events import Payload, make_envelope, parse_envelope, parse_payload
from mianshen_shared.events.catalog import ConfirmationAccepted, ConfirmationRequested
from mianshen_shared.topics import physical

from .factories import SEALER, credit_assessed, determination, payment_issued

pytestmark = pytest.mark.integration

ACCOUNT = {
    "account_name": "郑州示例科技有限公司",
    "account_number": "6222020200004567",
    "bank_name": "中国银行郑州分行",
}


async def publish(topic: str, payload: Payload, *, key: str) -> None:
    envelope = make_envelope(payload, source="test", subject=key, correlation_id=f"c-{uuid.uuid4().hex[:8]}")
    await testing.produce(topic, envelope.to_bytes(), key=key)


async def test_entitlements_are_confirmed_followed_until_paid_and_bad_input_is_refused(
    pg_database, topic_prefix
) -> None:
    settings = Settings(
        database_url=await pg_database("confirmation"),
        topic_prefix=topic_prefix,
        kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
        expiry_sweep_seconds=0,
        notify_poll_seconds=0,
    )
    app = create_app(settings)
    enterprise, stranger = testing.make_uscc(), testing.make_uscc()
    entitlements = physical("entitlements", topic_prefix)
    paid, held, withdrawn, declined = (
        determination(enterprise, amount_fen=a) for a in (30_000_000, 50_000_000, 10_000_000, 20_000_000)
    )

    async with (
        app.router.lifespan_context(app),
        testing.TopicReader(physical("confirmations", topic_prefix)) as out,
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        for d in (paid, paid.model_copy(), held, withdrawn, declined):  # the second is a duplicate
            await publish(entitlements, d, key=enterprise)
        await out.wait_for(lambda m: str(declined.entitlement_id).encode() in m.value)
        requests: dict[uuid.UUID, ConfirmationRequested] = {}
        for env in out.envelopes("confirmation.requested"):
            request = parse_payload(env)
            assert isinstance(request, ConfirmationRequested)
            assert request.entitlement_id not in requests, "the duplicate determination was asked twice"
            requests[request.entitlement_id] = request
        assert requests[paid.entitlement_id].amount_fen == 30_000_000

        pending = (await client.get(f"/enterprises/{enterprise}/confirmations", params={"status": "pending"})).json()
        assert {i["entitlement_id"] for i in pending["items"]} == {
            str(d.entitlement_id) for d in (paid, held, withdrawn, declined)
        }

        def answer(d: Any, verb: str) -> str:
            return f"/enterprises/{enterprise}/confirmations/{requests[d.entitlement_id].confirmation_id}/{verb}"

        # 意愿确认 over HTTP; the second, identical acceptance is answered without a second event.
        first = await client.post(answer(paid, "accept"), json={"bank_account": ACCOUNT})
        again = await client.post(answer(paid, "accept"), json={"bank_account": ACCOUNT})
        assert first.status_code == again.status_code == 200, first.text
        assert first.json()["status"] == "accepted"
        assert first.json()["bank_account"]["account_number"] == "6222********4567"
        assert (await client.post(answer(held, "accept"), json={"bank_account": ACCOUNT})).status_code == 200
        refusal = await client.post(answer(declined, "decline"), json={"reason": "已享受同类扶持"})
        assert refusal.status_code == 200 and refusal.json()["decline_reason"] == "已享受同类扶持"

        await out.wait_for(lambda m: b"confirmation.declined" in m.value)
        accepted = [parse_payload(e) for e in out.envelopes("confirmation.accepted")]
        assert len(accepted) == 2, "an identical second acceptance emitted again"
        paid_acceptance = next(a for a in accepted if a.entitlement_id == paid.entitlement_id)
        assert isinstance(paid_acceptance, ConfirmationAccepted)
        assert paid_acceptance.bank_account is not None
        assert paid_acceptance.bank_account.account_number_masked == "6222********4567"
        assert SEALER.open(paid_acceptance.bank_account.account_number_sealed) == "6222020200004567"
        held_acceptance = next(a for a in accepted if a.entitlement_id == held.entitlement_id)
        assert (paid_acceptance.amount_fen, paid_acceptance.policy_version) == (30_000_000, 1)

        # Credit and payment outcomes move the status view.
        credit = physical("credit-assessments", topic_prefix)
        held_assessment = credit_assessed(
            enterprise, held.entitlement_id, acceptance_id=held_acceptance.acceptance_id, decision="held"
        )
        await publish(credit, held_assessment, key=enterprise)
        cleared = credit_assessed(enterprise, paid.entitlement_id, acceptance_id=paid_acceptance.acceptance_id)
        await publish(credit, cleared, key=enterprise)
        payment = payment_issued(enterprise, paid.entitlement_id, amount_fen=30_000_000)
        await publish(physical("payments", topic_prefix), payment, key=enterprise)

        async def status_of(d: Any, wanted: str) -> dict[str, Any]:
            async def reached() -> dict[str, Any] | None:
                body = (await client.get(f"/enterprises/{enterprise}/entitlements/{d.entitlement_id}")).json()
                return body if body["status"] == wanted else None

            return await testing.wait_for(reached, timeout=20)

        held_view = await status_of(held, "credit_held")
        assert held_view["history"][-1]["details"]["reasons"][0]["record_id"] == "credit-77"
        paid_view = await status_of(paid, "paid")
        assert paid_view["finance_reference"] == payment.finance_reference
        assert [h["kind"] for h in paid_view["history"]] == [
            "determined",
            "confirmation_requested",
            "accepted",
            "credit_cleared",
            "paid",
        ]
        assert paid_view["confirmation"]["bank_account"]["account_number"] == "6222********4567"
        assert "6222020200004567" not in (await client.get(f"/enterprises/{enterprise}/entitlements")).text

        # A withdrawal closes the open request.
        await publish(
            entitlements,
            determination(enterprise, entitlement_id=withdrawn.entitlement_id, change="withdrawn"),
            key=enterprise,
        )
        closed = parse_payload(envelope_of(await out.wait_for(lambda m: b"confirmation.closed" in m.value)))
        assert closed.entitlement_id == withdrawn.entitlement_id
        await status_of(withdrawn, "withdrawn")
        assert (await client.get(f"/enterprises/{enterprise}/confirmations", params={"status": "pending"})).json()[
            "items"
        ] == []

        listed = (await client.get(f"/enterprises/{enterprise}/entitlements")).json()["items"]
        assert {i["entitlement_id"]: i["status"] for i in listed} == {
            str(paid.entitlement_id): "paid",
            str(held.entitlement_id): "credit_held",
            str(withdrawn.entitlement_id): "withdrawn",
            str(declined.entitlement_id): "declined",
        }

        # Bad input is refused with problem details.
        malformed = await client.post(
            answer(held, "accept"), content=b"{not json", headers={"content-type": "application/json"}
        )
        assert (malformed.status_code, malformed.json()["code"]) == (400, "malformed_json")
        assert malformed.headers["content-type"] == "application/problem+json"

        smuggled = await client.post(
            answer(withdrawn, "accept"), json={"bank_account": ACCOUNT, "amount_fen": 99_900_000_00}
        )
        assert smuggled.status_code == 422
        assert [(e["field"], e["code"]) for e in smuggled.json()["errors"]] == [("amount_fen", "extra_forbidden")]

        bad_account = await client.post(
            answer(withdrawn, "accept"), json={"bank_account": {**ACCOUNT, "account_number": "6222-0202"}}
        )
        assert bad_account.status_code == 422
        assert [e["field"] for e in bad_account.json()["errors"]] == ["bank_account.account_number"]

        missing = await client.post(answer(withdrawn, "decline"), json={})
        assert (missing.status_code, missing.json()["errors"][0]["code"]) == (422, "missing")

        closed_again = await client.post(answer(withdrawn, "accept"), json={"bank_account": ACCOUNT})
        assert (closed_again.status_code, closed_again.json()["code"]) == (409, "confirmation_not_pending")

        not_theirs = await client.post(
            answer(held, "accept").replace(enterprise, stranger), json={"bank_account": ACCOUNT}
        )
        assert (not_theirs.status_code, not_theirs.json()["code"]) == (404, "confirmation_not_found")
        assert "30" not in not_theirs.json()["detail"]
        other_view = await client.get(f"/enterprises/{stranger}/entitlements/{paid.entitlement_id}")
        assert other_view.status_code == 404
        assert (await client.get(f"/enterprises/{stranger}/entitlements")).json()["items"] == []

        wrong_check_digit = enterprise[:-1] + ("0" if enterprise[-1] != "0" else "1")
        for path in (f"/enterprises/{wrong_check_digit}/confirmations", "/enterprises/not-a-code/entitlements"):
            bad_code = await client.get(path)
            assert bad_code.status_code == 422, path
            assert bad_code.headers["content-type"] == "application/problem+json"
        bogus_filter = await client.get(f"/enterprises/{enterprise}/confirmations", params={"status": "paid"})
        assert bogus_filter.status_code == 422

        assert len(out.envelopes("confirmation.accepted")) == 2
        assert (
            len(
                [
                    e
                    for e in out.envelopes("confirmation.requested")
                    if parse_payload(e).entitlement_id == paid.entitlement_id
                ]
            )
            == 1
        )


async def test_orphan_outcomes_are_dead_lettered_and_unanswered_requests_expire(pg_database, topic_prefix) -> None:
    settings = Settings(
        database_url=await pg_database("confirmation"),
        topic_prefix=topic_prefix,
        kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
        expiry_sweep_seconds=0,
        notify_poll_seconds=0,
    )
    app = create_app(settings)
    runtime = app.state.runtime
    enterprise = testing.make_uscc()
    async with app.router.lifespan_context(app):
        orphan = payment_issued(enterprise, uuid.uuid4())
        await publish(physical("payments", topic_prefix), orphan, key=enterprise)
        async with testing.TopicReader(physical("dead-letter", topic_prefix)) as dlq:
            bad = await dlq.wait_for(lambda m: str(orphan.payment_id).encode() in m.value)
        assert dict(bad.headers)["dlq.reason"] == b"unknown_entitlement"

        forgotten = determination(enterprise)
        await publish(physical("entitlements", topic_prefix), forgotten, key=enterprise)
        async with testing.TopicReader(physical("confirmations", topic_prefix)) as out:
            await out.wait_for(lambda m: b"confirmation.requested" in m.value)
            async with runtime.engine.begin() as conn:
                await conn.execute(
                    sa.update(Confirmation)
                    .where(Confirmation.entitlement_id == forgotten.entitlement_id)
                    .values(deadline=date(2020, 1, 1))
                )
            assert await sweep_once(runtime) == 1
            assert await sweep_once(runtime) == 0
            closed = await out.wait_for(lambda m: b"confirmation.closed" in m.value)
        assert "2020-01-01" in parse_payload(envelope_of(closed)).reason
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            view = (await client.get(f"/enterprises/{enterprise}/entitlements/{forgotten.entitlement_id}")).json()
        assert view["confirmation"]["status"] == "expired"
        assert view["history"][-1]["kind"] == "confirmation_expired"


def envelope_of(message: Any) -> Any:
    return parse_envelope(message.value)
