"""A few entitlements driven through the real service functions, at chosen times,
for the performance report's route and integration tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import FastAPI

from confirmation import service
from confirmation.repository import ConfirmationRepository
from mianshen_shared import testing
from mianshen_shared.db import transaction
from mianshen_shared.events.catalog import EntitlementDetermined

from .factories import POLICY_ID, accepted_in, credit_assessed, determination, new_account, payment_issued
from .fakes import RecordingEmitter

HOSTILE_POLICY_ID = "zz-2024-07-hostile"
HOSTILE_TITLE = "<script>alert(1)</script>创新券补贴"


@dataclass(frozen=True)
class Story:
    base: datetime  # when every entitlement was determined
    first: str  # the enterprise with three of the entitlements
    second: str


async def tell(app: FastAPI, *, base: datetime) -> Story:
    """Policy POLICY_ID: paid after 3 days (3,000.00元), paid after 5.5 days
    (2,000.00元), declined, withdrawn, and held by credit since day 2; the hostile
    policy: one request left unanswered. Five enterprises' worth of outcomes over
    two enterprises."""
    first, second = testing.make_uscc(), testing.make_uscc()
    emit = RecordingEmitter()
    day = timedelta(days=1)

    def determined(uscc: str, **changes: object) -> EntitlementDetermined:
        return determination(uscc).model_copy(update={"determined_at": base, **changes})

    paid_fast = determined(first, amount_fen=300_000)
    paid_slow = determined(first, amount_fen=200_000)
    declined = determined(first)
    withdrawn = determined(second)
    held = determined(second)
    unanswered = determined(second, policy_id=HOSTILE_POLICY_ID, policy_title=HOSTILE_TITLE)

    async with transaction(app.state.runtime.sessions) as session:
        repo = ConfirmationRepository(session)
        for d in (paid_fast, paid_slow, declined, withdrawn, held, unanswered):
            await service.apply_determination(repo, determination=d, now=base, emit=emit)

    async with transaction(app.state.runtime.sessions) as session:
        repo = ConfirmationRepository(session)
        for d in (paid_fast, paid_slow, held):
            request = await repo.confirmation_for_entitlement(d.entitlement_id)
            assert request is not None
            await service.accept(
                repo,
                uscc=d.uscc,
                confirmation_id=request.confirmation_id,
                **new_account(),
                now=base + day,
                emit=emit,
            )
        request = await repo.confirmation_for_entitlement(declined.entitlement_id)
        assert request is not None
        await service.decline(
            repo,
            uscc=first,
            confirmation_id=request.confirmation_id,
            reason="已享受同类扶持",
            now=base + day,
            emit=emit,
        )
        await service.apply_determination(
            repo,
            determination=withdrawn.model_copy(update={"change": "withdrawn", "determined_at": base + 2 * day}),
            now=base + 2 * day,
            emit=emit,
        )
        assessments = [
            credit_assessed(
                paid_fast.uscc,
                paid_fast.entitlement_id,
                acceptance_id=accepted_in(emit, paid_fast.entitlement_id),
                amount_fen=paid_fast.amount_fen,
            ),
            credit_assessed(
                paid_slow.uscc,
                paid_slow.entitlement_id,
                acceptance_id=accepted_in(emit, paid_slow.entitlement_id),
                amount_fen=paid_slow.amount_fen,
            ),
            credit_assessed(
                held.uscc,
                held.entitlement_id,
                acceptance_id=accepted_in(emit, held.entitlement_id),
                decision="held",
                amount_fen=held.amount_fen,
            ),
        ]
        for assessment in assessments:
            await service.apply_credit_assessment(
                repo, assessment=assessment.model_copy(update={"assessed_at": base + 2 * day}), now=base + 2 * day
            )
        for d, after in ((paid_fast, 3 * day), (paid_slow, 5 * day + timedelta(hours=12))):
            payment = payment_issued(d.uscc, d.entitlement_id, amount_fen=d.amount_fen)
            await service.apply_payment_issued(
                repo, payment=payment.model_copy(update={"issued_at": base + after}), now=base + after
            )
    return Story(base=base, first=first, second=second)


__all__ = ["HOSTILE_POLICY_ID", "HOSTILE_TITLE", "POLICY_ID", "Story", "tell"]
