"""eligibility's internal API (reached only through the gateway)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from eligibility import service, supervision
from eligibility.repository import EligibilityRepository
from eligibility.schemas import (
    AssessmentRead,
    AwardRead,
    CheckRead,
    EligibilitySummaryRead,
    EntitlementRead,
    FactRead,
    FactUsedRead,
    FeedDayRead,
    FeedDetailRead,
    FeedList,
    FeedRead,
    OverdueFeedRead,
    OverdueList,
    PolicyAmountRead,
    PriorAwardRead,
    ReevaluationCreate,
    ReevaluationJobRead,
    ReevaluationPage,
)
from mianshen_shared import city as city_config
from mianshen_shared.api import Items, Offset
from mianshen_shared.problems import ProblemError
from mianshen_shared.web import CorrelationId, DbSession, EnterpriseUSCC

router = APIRouter(prefix="/enterprises", tags=["eligibility"])
reevaluations = APIRouter(prefix="/reevaluations", tags=["reevaluations"])
# 数据共享督办, for operators (the gateway exposes it).
feeds = APIRouter(prefix="/feeds", tags=["feeds"])


USCC = EnterpriseUSCC
PolicyId = Annotated[str, Path(min_length=1, max_length=120, description="政策编号")]
DepartmentCode = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$", description="部门代码", examples=["gxj"])
]


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


@router.get("/{uscc}/policies/{policy_id}/assessment", response_model=AssessmentRead)
async def assessment(session: DbSession, uscc: USCC, policy_id: PolicyId) -> AssessmentRead:
    """为什么（不）符合：逐项条件、可兑现金额、所依据的部门数据和已拨付记录。"""
    result = await service.assess(EligibilityRepository(session), uscc=uscc, policy_id=policy_id)
    a = result.assessment
    return AssessmentRead(
        uscc=uscc,
        policy_id=a.policy_id,
        policy_version=a.policy_version,
        policy_title=a.policy_title,
        legal_basis=a.legal_basis,
        clause=a.clause,
        eligible=a.eligible,
        summary=a.summary,
        checks=[CheckRead(text=c.text, met=c.met) for c in a.checks],
        awards=[
            AwardRead(award_key=w.award_key, amount_fen=w.amount_fen, explanation=w.explanation.model_dump(mode="json"))
            for w in a.awards
        ],
        facts=[FactUsedRead.model_validate(f) for f in result.facts],
        history=[PriorAwardRead.model_validate(h) for h in result.history],
    )


@reevaluations.get("", response_model=ReevaluationPage)
async def list_reevaluations(
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=200, description="每页条数")] = 20,
    offset: Offset = 0,
) -> ReevaluationPage:
    """重新比对任务，最新的在前。"""
    jobs, total = await EligibilityRepository(session).jobs(limit=limit, offset=offset)
    return ReevaluationPage(items=[ReevaluationJobRead.of(j) for j in jobs], total=total, limit=limit, offset=offset)


@reevaluations.get("/{job_id}", response_model=ReevaluationJobRead)
async def get_reevaluation(session: DbSession, job_id: uuid.UUID) -> ReevaluationJobRead:
    job = await EligibilityRepository(session).get_job(job_id)
    if job is None:
        raise ProblemError(404, "reevaluation_not_found", f"未找到重新比对任务：{job_id}")
    return ReevaluationJobRead.of(job)


@reevaluations.post("", response_model=ReevaluationJobRead, status_code=202)
async def request_reevaluation(
    session: DbSession, body: ReevaluationCreate, correlation_id: CorrelationId
) -> ReevaluationJobRead:
    """人工发起：对一项政策重新比对全部相关企业（如部门更正数据后）。"""
    job = await service.request_reevaluation(
        EligibilityRepository(session), policy_id=body.policy_id, now=datetime.now(UTC), correlation_id=correlation_id
    )
    return ReevaluationJobRead.of(job)


@feeds.get("", response_model=FeedList)
async def list_feeds(session: DbSession) -> FeedList:
    """各部门数据报送情况：最近报送时间、近7/30天报送量与常规量对比、拒收原因、是否按约定报送。"""
    now = datetime.now(UTC)
    overviews = await supervision.feed_overview(EligibilityRepository(session), city=city_config.current(), now=now)
    return FeedList(as_of=now, items=[FeedRead.of(o) for o in overviews])


@feeds.get("/overdue", response_model=OverdueList)
async def overdue_feeds(session: DbSession) -> OverdueList:
    """通报名单：未按约定报送数据的部门，逾期最久的在前。"""
    now = datetime.now(UTC)
    overviews = await supervision.feed_overview(EligibilityRepository(session), city=city_config.current(), now=now)
    listed = supervision.overdue(overviews)
    summary = supervision.tongbao_summary(listed, now)
    return OverdueList(as_of=now, summary=summary, items=[OverdueFeedRead.of(o) for o in listed])


@feeds.get("/{department}", response_model=FeedDetailRead)
async def feed_detail(session: DbSession, department: DepartmentCode) -> FeedDetailRead:
    """一个部门近90天逐日报送情况（接收、拒收及原因），及其报送约定与当前状态。"""
    detail = await supervision.feed_detail(
        EligibilityRepository(session), city=city_config.current(), department=department, now=datetime.now(UTC)
    )
    days = [FeedDayRead.model_validate(d) for d in detail.days]
    return FeedDetailRead(**FeedRead.of(detail.overview).model_dump(), days=days)
