"""eligibility's internal API (reached only through the gateway)."""

from __future__ import annotations

from fastapi import APIRouter

from eligibility import service
from eligibility.repository import EligibilityRepository
from eligibility.schemas import EligibilitySummaryRead, EntitlementRead, FactRead, PolicyAmountRead
from mianshen_shared.api import Items
from mianshen_shared.web import DbSession, EnterpriseUSCC

router = APIRouter(prefix="/enterprises", tags=["eligibility"])


USCC = EnterpriseUSCC


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
