"""What payment tells the dashboards beyond its events: submissions and holds by
policy, and the credit decision's trace carried on to the payment's event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY

from mianshen_shared import tracing
from mianshen_shared.events.catalog import PaymentIssued, PaymentProgressed
from payment import service, terms

from .factories import assessed
from .fakes import Emitted, FakeFinance
from .notice_support import FakeNoticeRepository, published

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 25, 8, tzinfo=UTC)
POLICY = service.RetryPolicy(max_attempts=4, base_seconds=1, max_seconds=8, lease_seconds=30)
POLICY_ID = "zz-2022-02-specialized-sme-award"
CREDIT_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def payments(outcome: str) -> float:
    return REGISTRY.get_sample_value("mianshen_payments_total", {"policy_id": POLICY_ID, "outcome": outcome}) or 0.0


async def without_notice() -> FakeNoticeRepository:
    """A repository whose policy asks for no 公示, so a cleared payment is claimable at once."""
    repo = FakeNoticeRepository()
    await terms.record_published(repo, published=published(procedure={"notice_working_days": 0}))
    return repo


class SpanRecordingEmitter:
    def __init__(self) -> None:
        self.events: list[tuple[Any, str | None]] = []

    async def __call__(self, payload: Any, *, key: str, correlation_id: str) -> None:
        self.events.append((payload, tracing.current.get()))


async def test_holds_and_submissions_are_counted_by_policy() -> None:
    repo, emit = await without_notice(), Emitted()
    before = {outcome: payments(outcome) for outcome in ("held", "submitted")}

    await service.record_assessment(repo, assessed=assessed(decision="held"), correlation_id="c", now=NOW, emit=emit)
    await service.record_assessment(repo, assessed=assessed(), correlation_id="c", now=NOW, emit=emit)
    await service.claim(repo, now=NOW, limit=10, policy=POLICY, payer_budget_code="410100-HQZC-001")

    assert {outcome: payments(outcome) - n for outcome, n in before.items()} == {"held": 1, "submitted": 1}


async def test_the_payment_event_continues_the_trace_of_the_credit_decision() -> None:
    repo, emit = await without_notice(), SpanRecordingEmitter()
    await service.record_assessment(
        repo, assessed=assessed(), correlation_id="c", now=NOW, traceparent=CREDIT_TRACE, emit=emit
    )
    (step,) = await service.claim(
        repo, now=NOW, limit=10, policy=POLICY, payer_budget_code="410100-HQZC-001", emit=emit
    )
    result = await service.perform(FakeFinance(), step)
    await service.record_outcome(repo, step, result, policy=POLICY, now=NOW, emit=emit)

    assert [type(event) for event, _span in emit.events] == [PaymentProgressed, PaymentProgressed, PaymentIssued]
    for _event, span in emit.events:
        assert tracing.trace_id(span) == tracing.trace_id(CREDIT_TRACE)
