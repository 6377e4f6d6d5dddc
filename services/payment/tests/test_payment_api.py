"""payment's HTTP API on the migrated schema (PostgreSQL), and the worker's SQL on
the embedded SQLite default, with the finance system faked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from httpx import ASGITransport, AsyncClient

from mianshen_shared import testing
from mianshen_shared.db import transaction
from payment import service, terms
from payment.config import Settings
from payment.main import create_app
from payment.models import Payment, outbox_table
from payment.repository import NoticeRepository, PaymentRepository
from payment.worker import PaymentWorker

from .factories import assessed
from .fakes import Emitted, FakeFinance
from .notice_support import published

pytestmark = pytest.mark.integration


async def _seed(app, *events) -> list[Payment]:
    async with transaction(app.state.runtime.sessions) as session:
        return [
            await service.record_assessment(
                NoticeRepository(session), assessed=e, correlation_id="c-api", now=datetime.now(UTC), emit=Emitted()
            )
            for e in events
        ]


async def _publish_without_notice(app) -> None:
    """The policy asks for no 公示, so a cleared payment is due for the worker at once."""
    async with transaction(app.state.runtime.sessions) as session:
        await terms.record_published(
            NoticeRepository(session), published=published(procedure={"notice_working_days": 0})
        )


@pytest.fixture
async def api(pg_database):
    app = create_app(Settings(database_url=await pg_database("payment_api"), messaging_enabled=False))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield app, client


async def test_an_enterprise_sees_its_own_payments_with_the_account_number_masked(api) -> None:
    app, client = api
    mine, theirs = testing.make_uscc(), testing.make_uscc()
    await _seed(app, assessed(mine, amount_fen=150_000), assessed(mine, decision="held"), assessed(theirs))
    response = await client.get(f"/enterprises/{mine}/payments")
    assert response.status_code == 200
    payments = response.json()["items"]
    assert {p["status"] for p in payments} == {"pending", "held"}
    assert {p["uscc"] for p in payments} == {mine}
    cleared = next(p for p in payments if p["status"] == "pending")
    assert (cleared["amount_fen"], cleared["amount_text"]) == (150_000, "1,500.00元")
    assert cleared["payee"]["account_number_masked"] == "6222***********4567"
    assert "account_number_sealed" not in cleared["payee"]
    assert "6222020200001234567" not in response.text
    held = next(p for p in payments if p["status"] == "held")
    assert held["hold_reasons"][0]["record_id"] == "credit-77"


async def test_a_payment_is_found_by_id_and_an_unknown_id_is_not(api) -> None:
    app, client = api
    [payment] = await _seed(app, assessed())
    found = await client.get(f"/payments/{payment.payment_id}")
    assert found.status_code == 200
    assert found.json()["idempotency_key"] == payment.idempotency_key
    missing = await client.get(f"/payments/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "payment_not_found"


async def test_another_enterprises_payment_is_reported_as_absent(api) -> None:
    app, client = api
    [payment] = await _seed(app, assessed())
    own = await client.get(f"/enterprises/{payment.uscc}/payments/{payment.payment_id}")
    assert own.status_code == 200
    other = await client.get(f"/enterprises/{testing.make_uscc()}/payments/{payment.payment_id}")
    assert other.status_code == 404
    assert other.json()["detail"] == "未找到该支付记录"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/enterprises/91410105MA0000000X/payments", "uscc_org_check_digit"),
        ("/enterprises/not-a-code/payments", "uscc_length"),
        ("/enterprises/91410105ma45ab3c2k/payments", "uscc_charset"),
        ("/payments/not-a-uuid", "validation_failed"),
    ],
)
async def test_a_malformed_identifier_is_refused_with_a_chinese_reason(api, path: str, code: str) -> None:
    _app, client = api
    response = await client.get(path)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert code in {body["code"], *(e["code"] for e in body.get("errors", []))}
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["detail"])


async def test_payments_cannot_be_created_or_changed_over_http(api) -> None:
    app, client = api
    [payment] = await _seed(app, assessed())
    posted = await client.post(f"/enterprises/{payment.uscc}/payments", content=b"{not json")
    assert posted.status_code == 405
    assert (await client.delete(f"/payments/{payment.payment_id}")).status_code == 405


async def test_the_worker_pays_and_writes_the_event_to_the_outbox_on_sqlite(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'payment.sqlite'}", messaging_enabled=False)
    app = create_app(settings)
    finance = FakeFinance().then("fail", "drop")
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        await _publish_without_notice(app)
        [payment] = await _seed(app, assessed(amount_fen=777))
        worker = PaymentWorker(
            sessions=runtime.sessions,
            outbox=runtime.outbox,
            finance=finance,
            policy=service.RetryPolicy(base_seconds=0.01, max_seconds=0.01),
            payer_budget_code="410100-HQZC-001",
        )

        async def settled() -> bool:
            await worker.run_once()
            async with transaction(runtime.sessions) as session:
                return (await PaymentRepository(session).get(payment.payment_id)).status == "succeeded"

        await testing.wait_for(settled, timeout=10, interval=0.02)
        async with transaction(runtime.sessions) as session:
            attempts = await PaymentRepository(session).attempts_for(payment.payment_id)
            events = (
                await session.execute(
                    sa.select(outbox_table.c.topic, outbox_table.c.message_key, outbox_table.c.headers).order_by(
                        outbox_table.c.id
                    )
                )
            ).all()
    assert [(a.action, a.outcome) for a in attempts] == [
        ("submit", "not_applied"),
        ("submit", "ambiguous"),
        ("query", "settled"),
    ]
    assert [(topic, key, headers["type"]) for topic, key, headers in events] == [
        ("mjx.payments.v1", payment.uscc, "payment.progressed"),
        ("mjx.payments.v1", payment.uscc, "payment.issued"),
    ], "the first submission is announced once, then the payment once it settled"
    assert len(finance.settled) == 1
