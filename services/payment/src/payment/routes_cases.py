"""payment's internal API for 减免指令 and 回头看 recovery cases (reached only through
the gateway): the executing department answers its instructions, operators decide
recovery cases with separation of duties, the enterprise reads its own cases."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query

from mianshen_shared import city
from mianshen_shared.api import Items
from mianshen_shared.events import Payload
from mianshen_shared.problems import ProblemError
from mianshen_shared.web import CorrelationId, DbSession, EnterpriseUSCC, RuntimeDep
from payment import instructions, recovery
from payment.repository import InstructionRepository, RecoveryRepository
from payment.schemas import (
    EnterpriseRecoveryCaseRead,
    InstructionAcknowledgement,
    InstructionRead,
    InstructionRefusal,
    RecoveryCaseRead,
    RecoveryDecision,
    RecoveryProposal,
    RepaymentCreate,
)

router = APIRouter(tags=["instructions", "recovery-cases"])
ACTOR_HEADER = "X-Actor"
_ACTOR = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
InstructionStatus = Annotated[
    str | None,
    Query(pattern=r"^(held|issued|acknowledged|refused|cancelled)$", description="按状态筛选"),
]
CaseStatus = Annotated[
    str | None,
    Query(pattern=r"^(open|proposed|recovering|recovered|waived)$", description="按状态筛选"),
]


async def get_actor(
    x_actor: Annotated[str | None, Header(alias=ACTOR_HEADER, description="操作人员编号")] = None,
) -> str:
    """The operator taking a step; separation of duties rests on it."""
    if x_actor is None or not x_actor.strip():
        raise ProblemError(400, "actor_required", f"请在请求头 {ACTOR_HEADER} 中注明操作人员编号")
    if not _ACTOR.fullmatch(x_actor):
        raise ProblemError(400, "actor_invalid", f"请求头 {ACTOR_HEADER} 格式不正确：应为1至64位字母、数字或 . _ @ -")
    return x_actor


async def get_department(
    department: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{1,31}$", description="部门编码（城市配置）")],
) -> str:
    if department not in city.current().departments:
        raise ProblemError(404, "department_not_found", f"未知的部门编码：{department}")
    return department


async def get_emit(session: DbSession, runtime: RuntimeDep, correlation_id: CorrelationId) -> instructions.Emit:
    """Emitting writes to the outbox in the request's own transaction."""

    async def emit(payload: Payload, *, key: str, correlation_id: str = correlation_id) -> Any:
        return await runtime.outbox.add(session, payload, key=key, correlation_id=correlation_id)

    return emit


async def get_ledger(session: DbSession) -> recovery.Ledger:
    return recovery.ledger_for(session)


Actor = Annotated[str, Depends(get_actor)]
Department = Annotated[str, Depends(get_department)]
Emitter = Annotated[instructions.Emit, Depends(get_emit)]
LedgerDep = Annotated[recovery.Ledger, Depends(get_ledger)]


def _now() -> datetime:
    return datetime.now(UTC)


# --- the executing department ------------------------------------------------------------------


@router.get("/departments/{department}/instructions", response_model=Items[InstructionRead])
async def department_instructions(
    session: DbSession, department: Department, status: InstructionStatus = None
) -> Items[InstructionRead]:
    found = await instructions.department_instructions(
        InstructionRepository(session), department=department, status=status
    )
    return Items(items=[InstructionRead.of(i) for i in found])


@router.post("/departments/{department}/instructions/{instruction_id}/acknowledgement", response_model=InstructionRead)
async def acknowledge_instruction(
    session: DbSession,
    emit: Emitter,
    department: Department,
    instruction_id: uuid.UUID,
    body: InstructionAcknowledgement,
) -> InstructionRead:
    instruction = await instructions.acknowledge(
        InstructionRepository(session),
        department=department,
        instruction_id=instruction_id,
        reference=body.reference,
        executed_on=body.executed_on,
        amount_fen=body.amount_fen,
        note=body.note,
        now=_now(),
        emit=emit,
    )
    return InstructionRead.of(instruction)


@router.post("/departments/{department}/instructions/{instruction_id}/refusal", response_model=InstructionRead)
async def refuse_instruction(
    session: DbSession, department: Department, instruction_id: uuid.UUID, body: InstructionRefusal
) -> InstructionRead:
    instruction = await instructions.refuse(
        InstructionRepository(session),
        department=department,
        instruction_id=instruction_id,
        reason=body.reason,
        now=_now(),
    )
    return InstructionRead.of(instruction)


# --- operators -----------------------------------------------------------------------------------


@router.get("/instructions", response_model=Items[InstructionRead])
async def all_instructions(session: DbSession, status: InstructionStatus = None) -> Items[InstructionRead]:
    found = await instructions.instructions(InstructionRepository(session), status=status)
    return Items(items=[InstructionRead.of(i) for i in found])


@router.get("/recovery-cases", response_model=Items[RecoveryCaseRead])
async def recovery_cases(session: DbSession, status: CaseStatus = None) -> Items[RecoveryCaseRead]:
    found = await recovery.cases(RecoveryRepository(session), status=status)
    return Items(items=[RecoveryCaseRead.of(c, recovery.STATUS_TEXT[c.status]) for c in found])


async def _case_read(repo: RecoveryRepository, case_id: uuid.UUID) -> RecoveryCaseRead:
    case = await recovery.get_case(repo, case_id=case_id)
    return RecoveryCaseRead.of(
        case, recovery.STATUS_TEXT[case.status], await repo.history(case_id), await repo.repayments(case_id)
    )


@router.get("/recovery-cases/{case_id}", response_model=RecoveryCaseRead)
async def recovery_case(session: DbSession, case_id: uuid.UUID) -> RecoveryCaseRead:
    return await _case_read(RecoveryRepository(session), case_id)


@router.post("/recovery-cases/{case_id}/proposal", response_model=RecoveryCaseRead)
async def propose(session: DbSession, actor: Actor, case_id: uuid.UUID, body: RecoveryProposal) -> RecoveryCaseRead:
    repo = RecoveryRepository(session)
    await recovery.propose(repo, case_id=case_id, action=body.action, reason=body.reason, actor=actor, now=_now())
    return await _case_read(repo, case_id)


@router.post("/recovery-cases/{case_id}/approval", response_model=RecoveryCaseRead)
async def approve(
    session: DbSession, ledger: LedgerDep, actor: Actor, case_id: uuid.UUID, body: RecoveryDecision
) -> RecoveryCaseRead:
    repo = RecoveryRepository(session)
    await recovery.approve(repo, ledger, case_id=case_id, reason=body.reason, actor=actor, now=_now())
    return await _case_read(repo, case_id)


@router.post("/recovery-cases/{case_id}/rejection", response_model=RecoveryCaseRead)
async def reject(session: DbSession, actor: Actor, case_id: uuid.UUID, body: RecoveryDecision) -> RecoveryCaseRead:
    repo = RecoveryRepository(session)
    await recovery.reject(repo, case_id=case_id, reason=body.reason, actor=actor, now=_now())
    return await _case_read(repo, case_id)


@router.post("/recovery-cases/{case_id}/repayments", response_model=RecoveryCaseRead)
async def record_repayment(
    session: DbSession, ledger: LedgerDep, actor: Actor, case_id: uuid.UUID, body: RepaymentCreate
) -> RecoveryCaseRead:
    repo = RecoveryRepository(session)
    await recovery.record_repayment(
        repo,
        ledger,
        case_id=case_id,
        amount_fen=body.amount_fen,
        received_on=body.received_on,
        reference=body.reference,
        actor=actor,
        now=_now(),
    )
    return await _case_read(repo, case_id)


# --- the enterprise --------------------------------------------------------------------------------


@router.get("/enterprises/{uscc}/recovery-cases", response_model=Items[EnterpriseRecoveryCaseRead])
async def enterprise_recovery_cases(session: DbSession, uscc: EnterpriseUSCC) -> Items[EnterpriseRecoveryCaseRead]:
    found = await recovery.cases(RecoveryRepository(session), uscc=uscc)
    return Items(items=[EnterpriseRecoveryCaseRead.of(c, recovery.STATUS_TEXT[c.status]) for c in found])


@router.get("/enterprises/{uscc}/instructions", response_model=Items[InstructionRead])
async def enterprise_instructions(session: DbSession, uscc: EnterpriseUSCC) -> Items[InstructionRead]:
    found = await instructions.instructions(InstructionRepository(session), uscc=uscc)
    return Items(items=[InstructionRead.of(i) for i in found])
