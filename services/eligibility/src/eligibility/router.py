"""eligibility's internal API (reached only through the gateway)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from eligibility import service
from eligibility.repository import EligibilityRepository
from eligibility.schemas import EligibilitySummaryRead, EntitlementRead, FactRead, PolicyAmountRead
from mianshen_shared import uscc as uscc_rules
from mianshen_shared.api import Items
from mianshen_shared.problems import ProblemError
from mianshen_shared.web import DbSession

router = APIRouter(prefix="/enterprises", tags=["eligibility"])


def valid_uscc(uscc: Annotated[str, Path(max_length=64, description="统一社会信用代码")]) -> str:
    try:
        return uscc_rules.validate(uscc)
    except uscc_rules.InvalidUSCC as exc:
        raise ProblemError(422, exc.reason, exc.message) from exc


USCC = Annotated[str, Depends(valid_uscc)]


@router.get("/{uscc}/entitlements", response_model=Items[EntitlementRead])
async def entitlements(session: DbSession, uscc: USCC) -> Items[EntitlementRead]:
    rows = await EligibilityRepository(session).entitlements_for(uscc)
    return Items(items=[EntitlementRead.model_validate(r) for r in rows])


@router.get("/{uscc}/facts", response_model=Items[FactRead])
async def facts(session: DbSession, uscc: USCC) -> Items[FactRead]:
    return Items(items=[FactRead.model_validate(f) for f in await EligibilityRepository(session).facts_for(uscc)])


@router.get("/{uscc}/eligibility-summary", response_model=EligibilitySummaryRead)
async def eligibility_summary(session: DbSession, uscc: USCC) -> EligibilitySummaryRead:
    amounts = await service.entitled_amounts(EligibilityRepository(session), uscc=uscc)
    return EligibilitySummaryRead(
        uscc=uscc,
        total_amount_fen=sum(a.amount_fen for a in amounts),
        policies=[
            PolicyAmountRead(policy_id=a.policy_id, policy_title=a.policy_title, amount_fen=a.amount_fen)
            for a in amounts
        ],
    )
