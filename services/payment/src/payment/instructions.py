"""减免指令 — non-cash benefits (rent and fee reductions) carried out on instruction.

A cleared credit decision for a benefit in NON_CASH_BENEFITS does not become a
payment: it becomes an execution instruction to the department the policy names
(`procedure.executing_department`), which carries the reduction out and
acknowledges it with its own reference. Life of an instruction: `held` (失信;
waits for a later cleared decision on the same acceptance) or `issued` →
`acknowledged` (BenefitExecuted is emitted) | `refused` (the department says
why; an operator follows up). A revocation, or a newer acceptance of the same
entitlement, cancels an instruction not yet acknowledged.

No ledger entries are written here: a reduction is income the executing party
forgoes, so no public money leaves the treasury and there is nothing to journal.
Nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from mianshen_shared import tracing
from mianshen_shared.events.catalog import NON_CASH_BENEFITS, BenefitExecuted, ConfirmationRevoked, CreditAssessed
from mianshen_shared.messaging import Rejected
from mianshen_shared.money import format_yuan
from mianshen_shared.problems import ProblemError
from payment.models import (
    INSTRUCTION_ACKNOWLEDGED,
    INSTRUCTION_CANCELLED,
    INSTRUCTION_HELD,
    INSTRUCTION_ISSUED,
    INSTRUCTION_REFUSED,
    ExecutionInstruction,
)

Emit = Callable[..., Awaitable[object]]
SHANGHAI = ZoneInfo("Asia/Shanghai")
OPEN_STATUSES = (INSTRUCTION_HELD, INSTRUCTION_ISSUED)
# What a department is shown: an instruction held back was never sent to it.
DEPARTMENT_VISIBLE = (INSTRUCTION_ISSUED, INSTRUCTION_ACKNOWLEDGED, INSTRUCTION_REFUSED, INSTRUCTION_CANCELLED)


class Repository(Protocol):
    async def by_acceptance(self, acceptance_id: uuid.UUID) -> ExecutionInstruction | None: ...
    async def for_entitlement(self, entitlement_id: uuid.UUID) -> list[ExecutionInstruction]: ...
    async def get_for_update(self, instruction_id: uuid.UUID) -> ExecutionInstruction | None: ...
    async def listed(
        self, *, department: str | None = None, uscc: str | None = None, statuses: Sequence[str] = ()
    ) -> list[ExecutionInstruction]: ...
    async def add(self, instruction: ExecutionInstruction) -> None: ...
    async def executing_department(self, policy_id: str, policy_version: int) -> str | None: ...
    async def revocation_reason(self, acceptance_id: uuid.UUID) -> str | None: ...


def is_non_cash(assessed: CreditAssessed) -> bool:
    return assessed.benefit_kind in NON_CASH_BENEFITS


# --- credit decisions in ----------------------------------------------------------------


async def record_assessment(
    repo: Repository, *, assessed: CreditAssessed, correlation_id: str, now: datetime, traceparent: str | None = None
) -> ExecutionInstruction:
    """Turn a credit decision on a non-cash benefit into an instruction (or a held one).

    The same acceptance again leaves its instruction alone, except that a held
    instruction is released by a later, different cleared decision. A newer
    acceptance of the same entitlement supersedes an instruction not yet carried out."""
    if assessed.amount_fen <= 0:
        raise Rejected("zero_amount", "减免金额为零，无需下达减免指令")
    existing = await repo.by_acceptance(assessed.acceptance_id)
    if existing is not None:
        if (
            existing.status == INSTRUCTION_HELD
            and assessed.decision == "cleared"
            and assessed.assessment_id != existing.assessment_id
        ):
            _issue(existing, assessed, now)
        return existing
    for earlier in await repo.for_entitlement(assessed.entitlement_id):
        if earlier.status == INSTRUCTION_ACKNOWLEDGED:
            raise Rejected(
                "benefit_already_executed",
                f"该待遇已由实施部门（{earlier.executing_department}）办理减免"
                f"（办理编号 {earlier.reference}），不再重复下达指令",
            )
        if earlier.status in OPEN_STATUSES:
            _cancel(earlier, "企业重新确认，原减免指令作废", now)
    department = await repo.executing_department(assessed.policy_id, assessed.policy_version)
    if department is None:
        raise Rejected(
            "executing_department_unknown",
            f"政策 {assessed.policy_id} 第{assessed.policy_version}版未载明减免实施部门"
            "（或尚未收到该政策），无法下达减免指令",
        )
    instruction = ExecutionInstruction(
        instruction_id=uuid.uuid4(),
        acceptance_id=assessed.acceptance_id,
        entitlement_id=assessed.entitlement_id,
        assessment_id=assessed.assessment_id,
        confirmation_id=assessed.confirmation_id,
        uscc=assessed.uscc,
        enterprise_name=assessed.enterprise_name,
        policy_id=assessed.policy_id,
        policy_version=assessed.policy_version,
        benefit_kind=assessed.benefit_kind,
        amount_fen=assessed.amount_fen,
        executing_department=department,
        status=INSTRUCTION_HELD,
        hold_reasons=[],
        correlation_id=correlation_id,
        traceparent=traceparent,
        created_at=now,
        updated_at=now,
    )
    revoked = await repo.revocation_reason(assessed.acceptance_id)
    if revoked is not None:
        # The revocation overtook this decision (another topic): record it, issue nothing.
        _cancel(instruction, f"企业撤回确认：{revoked}", now)
    elif assessed.decision == "cleared":
        _issue(instruction, assessed, now)
    else:
        instruction.hold_reasons = [r.model_dump(mode="json") for r in assessed.reasons]
    await repo.add(instruction)
    return instruction


def _issue(instruction: ExecutionInstruction, assessed: CreditAssessed, now: datetime) -> None:
    instruction.assessment_id = assessed.assessment_id
    instruction.confirmation_id = assessed.confirmation_id
    instruction.amount_fen = assessed.amount_fen
    instruction.status = INSTRUCTION_ISSUED
    instruction.hold_reasons = []
    instruction.issued_at = now
    instruction.updated_at = now


def _cancel(instruction: ExecutionInstruction, reason: str, now: datetime) -> None:
    instruction.status = INSTRUCTION_CANCELLED
    instruction.cancel_reason = reason
    instruction.updated_at = now


async def cancel_for_revocation(
    repo: Repository, *, revoked: ConfirmationRevoked, now: datetime
) -> ExecutionInstruction | None:
    """The enterprise withdrew its acceptance: an instruction not yet carried out is
    cancelled. None when the acceptance has no instruction (a cash benefit)."""
    instruction = await repo.by_acceptance(revoked.acceptance_id)
    if instruction is None:
        return None
    if instruction.status == INSTRUCTION_ACKNOWLEDGED:
        raise Rejected(
            "benefit_already_executed",
            f"实施部门已办理减免（办理编号 {instruction.reference}），企业撤回确认不能撤销已实施的减免",
        )
    if instruction.status in OPEN_STATUSES:
        _cancel(instruction, f"企业撤回确认：{revoked.reason}", now)
    return instruction


# --- the executing department's answer -------------------------------------------------------


async def department_instructions(
    repo: Repository, *, department: str, status: str | None
) -> list[ExecutionInstruction]:
    if status is not None and status not in DEPARTMENT_VISIBLE:
        return []
    return await repo.listed(department=department, statuses=(status,) if status else DEPARTMENT_VISIBLE)


async def _departments_own(repo: Repository, *, department: str, instruction_id: uuid.UUID) -> ExecutionInstruction:
    instruction = await repo.get_for_update(instruction_id)
    # Another department's instruction, or one never issued, is reported as absent.
    if instruction is None or instruction.executing_department != department or instruction.status == INSTRUCTION_HELD:
        raise ProblemError(404, "instruction_not_found", "未找到发给本部门的该减免指令")
    return instruction


async def acknowledge(
    repo: Repository,
    *,
    department: str,
    instruction_id: uuid.UUID,
    reference: str,
    executed_on: date,
    amount_fen: int,
    note: str | None,
    now: datetime,
    emit: Emit,
) -> ExecutionInstruction:
    """The department carried the reduction out. The same answer again is a no-op;
    a different one after the first is a conflict, since the event is already out."""
    instruction = await _departments_own(repo, department=department, instruction_id=instruction_id)
    if instruction.status == INSTRUCTION_ACKNOWLEDGED:
        if (instruction.reference, instruction.executed_on, instruction.executed_amount_fen, instruction.note) == (
            reference,
            executed_on,
            amount_fen,
            note,
        ):
            return instruction
        raise ProblemError(
            409,
            "instruction_already_acknowledged",
            f"该减免指令已于{_local_day(instruction.answered_at)}回执（办理编号 {instruction.reference}），"
            "不能以不同内容再次回执",
        )
    _require_open(instruction)
    if amount_fen != instruction.amount_fen:
        raise ProblemError(
            422,
            "amount_mismatch",
            f"回执的减免金额（{format_yuan(amount_fen)}）与指令金额（{format_yuan(instruction.amount_fen)}）不一致",
            errors=[{"field": "amount_fen", "code": "amount_mismatch", "message": "与指令金额不一致"}],
        )
    if executed_on > now.astimezone(SHANGHAI).date():
        raise ProblemError(
            422,
            "executed_on_in_future",
            "办理日期不能晚于今天",
            errors=[{"field": "executed_on", "code": "in_future", "message": "办理日期不能晚于今天"}],
        )
    instruction.status = INSTRUCTION_ACKNOWLEDGED
    instruction.reference = reference
    instruction.executed_on = executed_on
    instruction.executed_amount_fen = amount_fen
    instruction.note = note
    instruction.answered_at = now
    instruction.updated_at = now
    with tracing.resumed(instruction.traceparent):
        await emit(
            BenefitExecuted(
                instruction_id=instruction.instruction_id,
                entitlement_id=instruction.entitlement_id,
                uscc=instruction.uscc,
                policy_id=instruction.policy_id,
                amount_fen=amount_fen,
                executed_by=department,
                reference=reference,
                # The law counts the day the reduction took effect, in Zhengzhou.
                executed_at=datetime.combine(executed_on, datetime.min.time(), tzinfo=SHANGHAI).astimezone(UTC),
            ),
            key=instruction.uscc,
            correlation_id=instruction.correlation_id,
        )
    return instruction


async def refuse(
    repo: Repository, *, department: str, instruction_id: uuid.UUID, reason: str, now: datetime
) -> ExecutionInstruction:
    """The department will not carry it out (e.g. the lease ended); an operator follows up."""
    instruction = await _departments_own(repo, department=department, instruction_id=instruction_id)
    if instruction.status == INSTRUCTION_REFUSED:
        if instruction.refusal_reason == reason:
            return instruction
        raise ProblemError(409, "instruction_already_refused", "该减免指令已退回，不能以不同理由再次退回")
    if instruction.status == INSTRUCTION_ACKNOWLEDGED:
        raise ProblemError(409, "instruction_already_acknowledged", "该减免指令已回执办理完成，不能退回")
    _require_open(instruction)
    instruction.status = INSTRUCTION_REFUSED
    instruction.refusal_reason = reason
    instruction.answered_at = now
    instruction.updated_at = now
    return instruction


def _require_open(instruction: ExecutionInstruction) -> None:
    if instruction.status == INSTRUCTION_CANCELLED:
        raise ProblemError(
            409, "instruction_cancelled", f"该减免指令已撤销，无需办理：{instruction.cancel_reason or ''}".rstrip("：")
        )
    if instruction.status == INSTRUCTION_REFUSED:
        raise ProblemError(409, "instruction_refused", "该减免指令已被本部门退回，不能再回执办理")


def _local_day(moment: datetime | None) -> str:
    return moment.astimezone(SHANGHAI).date().isoformat() if moment else ""


# --- reads -------------------------------------------------------------------------------------


async def instructions(
    repo: Repository, *, uscc: str | None = None, status: str | None = None
) -> list[ExecutionInstruction]:
    return await repo.listed(uscc=uscc, statuses=(status,) if status else ())
