"""公示 on the real Kafka and PostgreSQL, with the finance simulator in its own process:
a cleared assessment goes on notice and is released when the notice ends; an upheld
objection withdraws it and a revocation cancels it, neither ever reaching the finance
system."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from finance_sim import testing as sim_testing
from mianshen_shared import testing
from mianshen_shared.db import transaction
from mianshen_shared.events import make_envelope, parse_payload
from mianshen_shared.events.catalog import Payload, PaymentProgressed
from mianshen_shared.topics import physical
from payment.config import Settings
from payment.main import create_app
from payment.notice import NoticeSweeper
from payment.repository import NoticeRepository

from .notice_support import POLICY_ID, assessed, published, revoked

pytestmark = pytest.mark.integration
REASON = "该企业实际经营地不在郑州，申报材料与事实不符"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sim_testing.SimulatorProcess]:
    with sim_testing.running(tmp_path_factory.mktemp("finance") / "finance.sqlite") as running:
        yield running


@pytest.fixture(scope="module")
async def stack(sim) -> AsyncIterator[dict]:
    database = await testing.create_database("payment_notice")
    prefix = testing.topic_prefix()
    settings = Settings(
        database_url=database,
        topic_prefix=prefix,
        kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
        finance_url=sim.url,
        payment_poll_seconds=0.1,
        notice_sweep_seconds=0.2,
    )
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            yield {"app": app, "prefix": prefix, "sim": sim}
    finally:
        await testing.drop_database(database)
        await testing.delete_topics(prefix)


async def _produce(stack: dict, topic: str, event: Payload, *, key: str) -> None:
    envelope = make_envelope(event, source="test", subject=key, correlation_id=f"c-{key}")
    await testing.produce(physical(topic, stack["prefix"]), envelope.to_bytes(), key=key)


async def _publish_policy(stack: dict, policy_id: str, notice_days: int) -> None:
    await _produce(
        stack,
        "policies",
        published(policy_id=policy_id, procedure={"notice_working_days": notice_days}),
        key=policy_id,
    )

    async def known() -> bool:
        async with transaction(stack["app"].state.runtime.sessions) as session:
            return await NoticeRepository(session).terms(policy_id, 1) is not None

    await testing.wait_for(known, timeout=30)


async def _progress(stack: dict, entitlement_id, *, until_stage: str) -> list[Payload]:
    """Every payment event for the entitlement, up to and including the stage awaited."""
    async with testing.TopicReader(physical("payments", stack["prefix"])) as reader:

        def reached(message) -> bool:
            text = message.value.decode()
            return str(entitlement_id) in text and f'"stage":"{until_stage}"' in text.replace(" ", "")

        await reader.wait_for(reached, timeout=30)
        envelopes = reader.envelopes()
    return [parse_payload(e) for e in envelopes if e.data.get("entitlement_id") == str(entitlement_id)]


def _unheard_of() -> str:
    return f"zz-unheard-of-{testing.unique_suffix()}"


def _stages(events: list[Payload]) -> list[str]:
    return [e.stage for e in events if isinstance(e, PaymentProgressed)]


async def _submissions(stack: dict, event) -> int:
    return (await stack["sim"].submissions()).get(f"mjx-{event.entitlement_id}", 0)


async def test_a_cleared_assessment_is_on_notice_then_pending_once_the_notice_has_ended(stack) -> None:
    policy_id = f"zz-notice-{testing.unique_suffix()}"
    await _publish_policy(stack, policy_id, 1)
    event = assessed(policy_id=policy_id)
    await _produce(stack, "credit-assessments", event, key=event.uscc)
    [entered] = await _progress(stack, event.entitlement_id, until_stage="in_notice")
    assert isinstance(entered, PaymentProgressed) and entered.until is not None
    runtime = stack["app"].state.runtime
    # The clock of the day after the notice: the service's own sweeper has not got there yet.
    after = datetime.combine(entered.until + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    sweeper = NoticeSweeper(
        sessions=runtime.sessions, outbox=runtime.outbox, repository=NoticeRepository, clock=lambda: after
    )
    assert await sweeper.run_once() >= 1
    runtime.notify_relay()
    events = await _progress(stack, event.entitlement_id, until_stage="pending")
    assert _stages(events) == ["in_notice", "pending"]
    assert await sweeper.run_once() == 0
    assert await _submissions(stack, event) == 0  # due at the sweeper's hour, not before


async def test_a_policy_without_notice_is_paid_straight_away(stack) -> None:
    # A policy with a budget for the year, so nothing but the notice could stop it.
    await _publish_policy(stack, POLICY_ID, 0)
    event = assessed(policy_id=POLICY_ID)
    await _produce(stack, "credit-assessments", event, key=event.uscc)
    async with testing.TopicReader(physical("payments", stack["prefix"])) as reader:
        await reader.wait_for(
            lambda m: str(event.entitlement_id) in m.value.decode() and "payment.issued" in m.value.decode(),
            timeout=30,
        )
        events = [
            parse_payload(e) for e in reader.envelopes() if e.data.get("entitlement_id") == str(event.entitlement_id)
        ]
    assert _stages(events)[0] == "pending"
    assert [type(e).__name__ for e in events][-1] == "PaymentIssued"


async def test_an_upheld_objection_withdraws_the_payment_without_ever_submitting_it(stack) -> None:
    event = assessed(policy_id=_unheard_of())  # the default five days
    await _produce(stack, "credit-assessments", event, key=event.uscc)
    await _progress(stack, event.entitlement_id, until_stage="in_notice")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stack["app"]), base_url="http://t") as client:
        [entry] = [
            e for e in (await client.get("/notices", params={"limit": 200})).json()["items"] if e["uscc"] == event.uscc
        ]
        raised = await client.post(f"/notices/{entry['payment_id']}/objections", json={"reason": REASON})
        assert raised.status_code == 201
        decided = await client.post(
            f"/objections/{raised.json()['objection_id']}/decision",
            json={"decision": "uphold", "reason": "经核实异议成立"},
            headers={"X-Actor": "clerk.wang"},
        )
        assert decided.status_code == 200
    events = await _progress(stack, event.entitlement_id, until_stage="withdrawn")
    assert _stages(events) == ["in_notice", "objected", "withdrawn"]
    await asyncio.sleep(0.5)
    assert await _submissions(stack, event) == 0


async def test_a_revocation_before_submission_cancels_the_payment(stack) -> None:
    event = assessed(policy_id=_unheard_of())
    await _produce(stack, "credit-assessments", event, key=event.uscc)
    await _progress(stack, event.entitlement_id, until_stage="in_notice")
    await _produce(stack, "confirmations", revoked(event), key=event.uscc)
    events = await _progress(stack, event.entitlement_id, until_stage="cancelled")
    assert _stages(events) == ["in_notice", "cancelled"]
    assert "企业撤回" in (events[-1].reason or "")
    assert await _submissions(stack, event) == 0
