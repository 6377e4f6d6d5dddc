"""payment on the real Kafka and PostgreSQL, paying through the real finance
simulator in its own process: whatever the finance system does, each cleared
entitlement is settled exactly once and announced exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from finance_sim import testing as sim_testing
from mianshen_shared import testing
from mianshen_shared.db import transaction
from mianshen_shared.events import make_envelope, parse_envelope, parse_payload
from mianshen_shared.events.catalog import CreditAssessed, Payload, PaymentFailed, PaymentIssued, PaymentProgressed
from mianshen_shared.topics import physical
from payment.config import Settings
from payment.main import create_app
from payment.repository import NoticeRepository

from .factories import ACCOUNT_NUMBER, assessed
from .notice_support import POLICY_ID, published

pytestmark = pytest.mark.integration
CLIENT_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sim_testing.SimulatorProcess]:
    db = tmp_path_factory.mktemp("finance") / "finance.sqlite"
    with sim_testing.running(db, timeout_delay=CLIENT_TIMEOUT * 2) as running:
        yield running


@pytest.fixture(scope="module")
async def stack(sim) -> AsyncIterator[dict]:
    """One payment service for the module; each test uses its own enterprise."""
    database = await testing.create_database("payment")
    prefix = testing.topic_prefix()
    settings = Settings(
        database_url=database,
        topic_prefix=prefix,
        kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
        finance_url=sim.url,
        finance_timeout_seconds=CLIENT_TIMEOUT,
        payment_retry_base_seconds=0.1,
        payment_retry_max_seconds=0.5,
        payment_poll_seconds=0.1,
    )
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            running = {"app": app, "prefix": prefix, "sim": sim}
            await _publish_without_notice(running)
            yield running
    finally:
        await testing.drop_database(database)


async def _publish_without_notice(stack: dict) -> None:
    """The policy of every assessment here asks for no 公示, so a cleared payment is
    due for the worker at once; wait until payment has taken the terms in."""
    event = published(policy_id=POLICY_ID, procedure={"notice_working_days": 0})
    envelope = make_envelope(event, source="test", subject=POLICY_ID, correlation_id=f"c-{POLICY_ID}")
    await testing.produce(physical("policies", stack["prefix"]), envelope.to_bytes(), key=POLICY_ID)

    async def known() -> bool:
        async with transaction(stack["app"].state.runtime.sessions) as session:
            return await NoticeRepository(session).terms(POLICY_ID, 1) is not None

    await testing.wait_for(known, timeout=30)


@pytest.fixture(autouse=True)
async def _no_faults_left(sim) -> AsyncIterator[None]:
    yield
    await sim.clear_faults()


async def _produce(stack: dict, event: CreditAssessed, *, times: int = 1) -> None:
    envelope = make_envelope(event, source="test", subject=event.uscc, correlation_id=f"c-{event.entitlement_id}")
    for _ in range(times):
        await testing.produce(physical("credit-assessments", stack["prefix"]), envelope.to_bytes(), key=event.uscc)


_OUTCOME_TYPES = frozenset({"payment.issued", "payment.failed"})


async def _events(stack: dict, event: CreditAssessed, *, settle_seconds: float = 1.0) -> list[Payload]:
    """Every payment event for the entitlement, once its outcome (issued or failed)
    has arrived and the stack has had time to (wrongly) send another."""
    async with testing.TopicReader(physical("payments", stack["prefix"])) as reader:

        def outcome(message) -> bool:
            envelope = parse_envelope(message.value)
            return envelope.type in _OUTCOME_TYPES and envelope.data.get("entitlement_id") == str(event.entitlement_id)

        await reader.wait_for(outcome, timeout=30)
        await asyncio.sleep(settle_seconds)
        await reader.poll()
        envelopes = reader.envelopes()
    return [parse_payload(e) for e in envelopes if e.data.get("entitlement_id") == str(event.entitlement_id)]


async def _outcome(stack: dict, event: CreditAssessed, *, settle_seconds: float = 1.0) -> list[Payload]:
    """The entitlement's outcome events (PaymentIssued, PaymentFailed); its stages are announced besides."""
    events = await _events(stack, event, settle_seconds=settle_seconds)
    return [e for e in events if isinstance(e, PaymentIssued | PaymentFailed)]


def _stages(events: list[Payload]) -> list[str]:
    return [e.stage for e in events if isinstance(e, PaymentProgressed)]


async def _instructions_for(sim, event: CreditAssessed) -> list[dict]:
    return [i for i in await sim.instructions() if i["idempotency_key"] == f"mjx-{event.entitlement_id}"]


async def test_a_cleared_assessment_is_paid_once_for_the_exact_amount_and_announced(stack) -> None:
    event = assessed(amount_fen=123_456_789)
    await _produce(stack, event)
    [issued] = await _outcome(stack, event)
    [instruction] = await _instructions_for(stack["sim"], event)
    assert type(issued).__name__ == "PaymentIssued"
    assert issued.amount_fen == instruction["amount_fen"] == 123_456_789
    assert issued.finance_reference == instruction["instruction_id"]
    assert issued.uscc == event.uscc
    assert instruction["payee"]["account_number"] == ACCOUNT_NUMBER, "the sealed account is opened for finance only"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stack["app"]), base_url="http://t") as client:
        [payment] = (await client.get(f"/enterprises/{event.uscc}/payments")).json()["items"]
    assert (payment["status"], payment["finance_reference"]) == ("succeeded", instruction["instruction_id"])


async def test_a_held_assessment_is_recorded_and_never_sent_to_the_finance_system(stack) -> None:
    event = assessed(decision="held")
    await _produce(stack, event)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stack["app"]), base_url="http://t") as client:

        async def held() -> list:
            return (await client.get(f"/enterprises/{event.uscc}/payments")).json()["items"]

        [payment] = await testing.wait_for(held, timeout=30)
    assert payment["status"] == "held"
    await asyncio.sleep(1.0)
    assert await _instructions_for(stack["sim"], event) == []
    assert f"mjx-{event.entitlement_id}" not in await stack["sim"].submissions()


async def test_the_same_assessment_delivered_twice_pays_once(stack) -> None:
    event = assessed()
    await _produce(stack, event, times=2)
    # credit-check re-emitting the same decision as a new event must not pay again either
    await _produce(stack, event)
    events = await _events(stack, event, settle_seconds=1.5)
    assert [type(e).__name__ for e in events if not isinstance(e, PaymentProgressed)] == ["PaymentIssued"]
    assert _stages(events) == ["pending", "submitted"], "each stage announced once however often the decision came"
    assert len(await _instructions_for(stack["sim"], event)) == 1


async def test_an_outage_then_recovery_pays_once_under_the_same_key(stack) -> None:
    await stack["sim"].arm("fail", count=2)
    event = assessed()
    await _produce(stack, event)
    [issued] = await _outcome(stack, event)
    assert type(issued).__name__ == "PaymentIssued"
    assert len(await _instructions_for(stack["sim"], event)) == 1
    assert (await stack["sim"].submissions())[f"mjx-{event.entitlement_id}"] == 3


async def test_a_business_rejection_fails_the_payment_and_pays_nothing(stack) -> None:
    await stack["sim"].arm("reject", code="account_invalid", message="收款账户无效")
    event = assessed()
    await _produce(stack, event)
    [failed] = await _outcome(stack, event)
    assert type(failed).__name__ == "PaymentFailed"
    assert failed.reason_code == "account_invalid"
    assert await _instructions_for(stack["sim"], event) == []


async def test_a_timeout_is_resolved_by_query_and_pays_once(stack) -> None:
    await stack["sim"].arm("timeout")
    event = assessed()
    await _produce(stack, event)
    # Past the simulator's delayed apply of the first submission as well.
    [issued] = await _outcome(stack, event, settle_seconds=CLIENT_TIMEOUT * 2 + 0.5)
    [instruction] = await _instructions_for(stack["sim"], event)
    assert issued.finance_reference == instruction["instruction_id"]
    assert (await stack["sim"].submissions())[f"mjx-{event.entitlement_id}"] >= 2


async def test_a_response_dropped_after_settlement_is_found_by_query_and_pays_once(stack) -> None:
    await stack["sim"].arm("drop_after_apply")
    event = assessed()
    await _produce(stack, event)
    [issued] = await _outcome(stack, event)
    [instruction] = await _instructions_for(stack["sim"], event)
    assert issued.finance_reference == instruction["instruction_id"]
    assert (await stack["sim"].submissions())[f"mjx-{event.entitlement_id}"] == 1
