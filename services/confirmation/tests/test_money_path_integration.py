"""The money path on confirmation's side, on the real Kafka and PostgreSQL with the
front-end simulator as its own process: notifications delivered (and retried, and
given up on), reminders once, accounts sealed at rest, revocation and re-acceptance,
and the refusal once the payment is submitted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import ASGITransport, AsyncClient

from confirmation.bootstrap import remind_once
from confirmation.config import Settings
from confirmation.main import create_app
from frontend_sim import testing as frontend_testing
from mianshen_shared import testing
from mianshen_shared.events import Payload, make_envelope, parse_payload
from mianshen_shared.events.catalog import ConfirmationAccepted, ConfirmationRequested, ConfirmationRevoked
from mianshen_shared.topics import physical

from .factories import determination, payment_progressed

pytestmark = pytest.mark.integration

NUMBER = "6222020200009876543"
ACCOUNT = {"account_name": "郑州示例科技有限公司", "account_number": NUMBER, "bank_name": "中国银行郑州分行"}


@pytest.fixture(scope="module")
def frontends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[frontend_testing.FrontendSimProcess]:
    with frontend_testing.running(tmp_path_factory.mktemp("frontend") / "frontend.sqlite") as sim:
        yield sim


async def publish(topic: str, payload: Payload, *, key: str) -> None:
    envelope = make_envelope(payload, source="test", subject=key, correlation_id=f"c-{uuid.uuid4().hex[:8]}")
    await testing.produce(topic, envelope.to_bytes(), key=key)


async def test_the_enterprise_is_notified_answers_changes_its_mind_and_is_stopped_after_submission(
    pg_database, topic_prefix, frontends
) -> None:
    settings = Settings(
        database_url=await pg_database("confirmation"),
        topic_prefix=topic_prefix,
        kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
        expiry_sweep_seconds=0,
        frontend_urls=frontends.front_ends(),
        notify_poll_seconds=0.2,
        notify_retry_base_seconds=0.2,
        notify_max_attempts=3,
    )
    app = create_app(settings)
    runtime = app.state.runtime
    enterprise, stranger = testing.make_uscc(), testing.make_uscc()
    d = determination(enterprise, confirmation_days=10)
    other = determination(stranger)

    async with (
        app.router.lifespan_context(app),
        testing.TopicReader(physical("confirmations", topic_prefix)) as out,
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        # A busy front end is retried: the first two deliveries fail, the notification still arrives once.
        await frontends.fail_next(2)
        for payload, key in ((d, enterprise), (other, stranger)):
            await publish(physical("entitlements", topic_prefix), payload, key=key)

        async def delivered_to_both(uscc: str, kind: str) -> list[dict[str, Any]] | None:
            got = [n for n in await frontends.notifications(uscc) if n["body"]["kind"] == kind]
            return got if {n["front_end"] for n in got} == {"qinqing", "zhenghaoban"} else None

        requested = await testing.wait_for(lambda: delivered_to_both(enterprise, "confirmation_requested"), timeout=30)
        assert len(requested) == 2, "a retried notification was kept twice"
        assert "请于" in requested[0]["body"]["message"] and "前确认" in requested[0]["body"]["message"]
        await out.wait_for(lambda m: str(other.entitlement_id).encode() in m.value)
        requests = {r.entitlement_id: r for r in (parse_payload(e) for e in out.envelopes("confirmation.requested"))}
        request = requests[d.entitlement_id]
        assert isinstance(request, ConfirmationRequested)
        assert request.deadline == (datetime.now(UTC) + timedelta(hours=8)).date() + timedelta(days=10)
        accept = f"/enterprises/{enterprise}/confirmations/{request.confirmation_id}/accept"
        decline = f"/enterprises/{enterprise}/confirmations/{request.confirmation_id}/decline"

        # Accepting with a new account keeps only its sealed and masked forms.
        first = await client.post(accept, json={"bank_account": ACCOUNT})
        assert first.status_code == 200, first.text
        assert first.json()["bank_account"]["account_number"] == "6222***********6543"
        async with runtime.engine.connect() as conn:
            for table in ("confirmations", "bank_accounts", "notifications", "entitlement_status_events", "outbox"):
                rows = (await conn.execute(sa.text(f"SELECT * FROM {table}"))).all()
                assert NUMBER not in repr(rows), f"{table} holds the account number in plaintext"
        saved = (await client.get(f"/enterprises/{enterprise}/bank-accounts")).json()["items"]
        assert [(a["account_number"], a["bank_name"]) for a in saved] == [("6222***********6543", "中国银行郑州分行")]
        assert (await client.get(f"/enterprises/{stranger}/bank-accounts")).json()["items"] == []

        # Revocation, then acceptance again with the saved account.
        revoked = await client.post(decline, json={"reason": "需更换收款账户"})
        assert revoked.status_code == 200 and revoked.json()["status"] == "declined"
        again = await client.post(accept, json={"reuse_account_id": saved[0]["account_id"]})
        assert again.status_code == 200, again.text
        await out.wait_for(lambda m: len([1 for e in out.envelopes("confirmation.accepted")]) >= 2)
        first_acceptance, second_acceptance = (parse_payload(e) for e in out.envelopes("confirmation.accepted"))
        [revocation] = (parse_payload(e) for e in out.envelopes("confirmation.revoked"))
        assert isinstance(first_acceptance, ConfirmationAccepted) and isinstance(
            second_acceptance, ConfirmationAccepted
        )
        assert isinstance(revocation, ConfirmationRevoked)
        assert revocation.acceptance_id == first_acceptance.acceptance_id != second_acceptance.acceptance_id
        assert second_acceptance.bank_account is not None
        assert second_acceptance.bank_account.account_number_masked == "6222***********6543"

        # Bad input.
        other_request = requests[other.entitlement_id]
        theirs = f"/enterprises/{stranger}/confirmations/{other_request.confirmation_id}/accept"
        not_theirs = await client.post(theirs, json={"reuse_account_id": saved[0]["account_id"]})
        assert (not_theirs.status_code, not_theirs.json()["code"]) == (404, "bank_account_not_found")
        both = await client.post(theirs, json={"bank_account": ACCOUNT, "reuse_account_id": str(uuid.uuid4())})
        assert both.status_code == 422
        neither = await client.post(theirs, json={})
        assert (neither.status_code, neither.json()["code"]) == (422, "bank_account_required")
        unknown = await client.post(theirs, json={"bank_account": ACCOUNT, "iban": "x"})
        assert unknown.status_code == 422
        malformed = await client.post(theirs, content=b"{", headers={"content-type": "application/json"})
        assert malformed.status_code == 400
        short = await client.post(theirs, json={"bank_account": {**ACCOUNT, "account_number": "1234567"}})
        assert short.status_code == 422
        assert (await client.get("/enterprises/not-a-code/bank-accounts")).status_code == 422
        assert (await client.get("/notifications", params={"status": "lost"})).status_code == 422

        # Payment submitted: the answer is final.
        submitted = payment_progressed(enterprise, d.entitlement_id, "submitted")
        await publish(physical("payments", topic_prefix), submitted, key=enterprise)

        async def shows_submitted() -> dict[str, Any] | None:
            view = (await client.get(f"/enterprises/{enterprise}/entitlements/{d.entitlement_id}")).json()
            return view if view["status"] == "submitted" else None

        view = await testing.wait_for(shows_submitted, timeout=20)
        assert view["status_text"] == "已提交财政"
        too_late = await client.post(decline, json={"reason": "不要了"})
        assert (too_late.status_code, too_late.json()["code"]) == (409, "payment_already_submitted")
        await testing.wait_for(lambda: delivered_to_both(enterprise, "payment_progressed"), timeout=20)

        # Reminders: once per lead time, however often the sweep runs.
        assert other_request.deadline is not None
        day_before = datetime.combine(other_request.deadline - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        assert await remind_once(runtime, [7, 1], now=day_before) == 1  # the stranger's: the enterprise answered
        assert await remind_once(runtime, [7, 1], now=day_before) == 0
        async with runtime.engine.connect() as conn:
            assert await conn.scalar(sa.text("SELECT count(*) FROM confirmation_reminders")) == 1

        # A front end that keeps failing: the notification is given up and shown to operators.
        await frontends.fail_next(1000)
        try:
            assert await remind_once(runtime, [7, 1], now=day_before + timedelta(days=1)) == 0

            await client.post(
                f"/enterprises/{stranger}/confirmations/{other_request.confirmation_id}/decline",
                json={"reason": "不需要"},
            )
            other_accept = f"/enterprises/{stranger}/confirmations/{other_request.confirmation_id}/accept"
            await client.post(other_accept, json={"bank_account": ACCOUNT})
            await client.post(
                f"/enterprises/{stranger}/confirmations/{other_request.confirmation_id}/decline",
                json={"reason": "仍不需要"},
            )

            async def failed() -> list[dict[str, Any]] | None:
                items = (await client.get("/notifications", params={"status": "failed", "uscc": stranger})).json()
                return items["items"] or None

            [gave_up] = await testing.wait_for(failed, timeout=30)
            assert gave_up["kind"] == "confirmation_revoked" and gave_up["attempts"] == 3
            assert "HTTP 503" in gave_up["last_error"]
        finally:
            await frontends.clear_faults()
