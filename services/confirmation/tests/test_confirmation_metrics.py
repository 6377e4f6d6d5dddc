"""What confirmation tells the dashboards: the time each step of the 免申即享 funnel
took, the outcomes of 意愿确认 by policy, and the push's trace carried past the
enterprise's answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from confirmation import service
from mianshen_shared import testing, tracing
from mianshen_shared.events import Payload
from mianshen_shared.events.catalog import ConfirmationAccepted, ConfirmationRequested

from .factories import POLICY_ID, credit_assessed, determination, new_account, payment_issued
from .fakes import FakeConfirmationRepository, RecordingEmitter

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 2, 1, tzinfo=UTC)
PUSH_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def seconds_in(step: str) -> float:
    return REGISTRY.get_sample_value("mianshen_funnel_step_seconds_sum", {"policy_id": POLICY_ID, "step": step}) or 0.0


def outcomes(outcome: str) -> float:
    labels = {"policy_id": POLICY_ID, "outcome": outcome}
    return REGISTRY.get_sample_value("mianshen_confirmations_total", labels) or 0.0


class TraceRecordingEmitter(RecordingEmitter):
    """Also notes the span each event was emitted in."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[str | None] = []

    async def __call__(self, payload: Payload, *, key: str, correlation_id: str | None = None) -> None:
        self.spans.append(tracing.current.get())
        await super().__call__(payload, key=key, correlation_id=correlation_id)


async def opened(repo: FakeConfirmationRepository, emit: Any, uscc: str) -> ConfirmationRequested:
    d = determination(uscc).model_copy(update={"determined_at": T0})
    await service.apply_determination(repo, determination=d, now=T0 + timedelta(seconds=60), emit=emit)
    request = emit.of_type(ConfirmationRequested)[-1]
    assert isinstance(request, ConfirmationRequested)
    return request


async def test_each_step_of_the_funnel_is_timed_from_the_step_before_it() -> None:
    repo, emit, uscc = FakeConfirmationRepository(), RecordingEmitter(), testing.make_uscc()
    before = {step: seconds_in(step) for step in ("notify", "confirm", "credit", "pay", "total")}

    request = await opened(repo, emit, uscc)
    await service.accept(
        repo,
        uscc=uscc,
        confirmation_id=request.confirmation_id,
        **new_account(),
        now=T0 + timedelta(seconds=160),
        emit=emit,
    )
    cleared = credit_assessed(
        uscc, request.entitlement_id, acceptance_id=repo.acceptance_of(request.entitlement_id)
    ).model_copy(update={"assessed_at": T0 + timedelta(seconds=200)})
    await service.apply_credit_assessment(repo, assessment=cleared, now=T0 + timedelta(seconds=200))
    paid = payment_issued(uscc, request.entitlement_id).model_copy(update={"issued_at": T0 + timedelta(seconds=500)})
    await service.apply_payment_issued(repo, payment=paid, now=T0 + timedelta(seconds=500))
    await service.apply_payment_issued(repo, payment=paid, now=T0 + timedelta(seconds=900))

    took = {step: seconds_in(step) - seconds for step, seconds in before.items()}
    # The histogram sums are process-wide floats that other tests add to first.
    assert took == pytest.approx({"notify": 60, "confirm": 100, "credit": 40, "pay": 300, "total": 500})


async def test_a_held_credit_decision_is_not_timed_as_cleared() -> None:
    repo, emit, uscc = FakeConfirmationRepository(), RecordingEmitter(), testing.make_uscc()
    request = await opened(repo, emit, uscc)
    await service.accept(repo, uscc=uscc, confirmation_id=request.confirmation_id, **new_account(), now=T0, emit=emit)
    before = seconds_in("credit")
    held = credit_assessed(
        uscc, request.entitlement_id, acceptance_id=repo.acceptance_of(request.entitlement_id), decision="held"
    )
    await service.apply_credit_assessment(repo, assessment=held, now=T0)
    assert seconds_in("credit") == before


async def test_declines_expiries_and_closures_are_counted_by_policy() -> None:
    repo, emit, uscc = FakeConfirmationRepository(), RecordingEmitter(), testing.make_uscc()
    before = {outcome: outcomes(outcome) for outcome in ("declined", "expired", "closed")}

    declined = await opened(repo, emit, uscc)
    await service.decline(repo, uscc=uscc, confirmation_id=declined.confirmation_id, reason="不需要", now=T0, emit=emit)
    await service.decline(repo, uscc=uscc, confirmation_id=declined.confirmation_id, reason="不需要", now=T0, emit=emit)
    await opened(repo, emit, uscc)
    await service.expire_overdue(repo, now=T0 + timedelta(days=60), emit=emit)
    withdrawn = await opened(repo, emit, uscc)
    d = determination(uscc, entitlement_id=withdrawn.entitlement_id, change="withdrawn")
    await service.apply_determination(repo, determination=d, now=T0, emit=emit)

    counted = {outcome: outcomes(outcome) - n for outcome, n in before.items()}
    assert counted == {"declined": 1, "expired": 1, "closed": 1}


async def test_the_acceptance_continues_the_trace_of_the_department_push() -> None:
    repo, emit, uscc = FakeConfirmationRepository(), TraceRecordingEmitter(), testing.make_uscc()
    request = await opened(repo, emit, uscc)
    repo.entitlements[request.entitlement_id].traceparent = PUSH_TRACE

    with tracing.span(None) as request_span:
        await service.accept(
            repo, uscc=uscc, confirmation_id=request.confirmation_id, **new_account(), now=T0, emit=emit
        )
        assert tracing.current.get() == request_span, "the request's own span is back after the event"

    accepted_span = emit.spans[[type(p) for p, _ in emit.emitted].index(ConfirmationAccepted)]
    assert tracing.trace_id(accepted_span) == tracing.trace_id(PUSH_TRACE)
    assert accepted_span != PUSH_TRACE
