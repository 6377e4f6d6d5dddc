"""复式记账 — the payment service's double-entry ledger.

Every movement of money is one journal: lines that each debit or credit one
account, whose debits equal its credits. Lines are never changed or deleted (the
database refuses it on PostgreSQL, where a deferred trigger also refuses an
unbalanced journal at commit); a mistake is corrected by a reversing journal.

Chart of accounts (amounts in fen):

| account                      | what it holds                                              |
|------------------------------|------------------------------------------------------------|
| `expense:<policy_id>:<year>` | 惠企 money paid out under a policy, charged to a fiscal year |
| `treasury:<budget_code>`     | the paying budget unit's funds at the finance system       |
| `receivable:<uscc>`          | money an enterprise owes back (回头看 recovery)             |

Journals this service writes:
- `settlement` (the finance system settled a payment):
  Dr `expense:<policy>:<year>` / Cr `treasury:<budget_code>`.
- `returned` (the bank sent a settled payment back): the reversal of its settlement.
- For recovery, suggested: on a decision to recover, Dr `receivable:<uscc>` /
  Cr `expense:<policy>:<year>` (kind `recovery_due`); on the money coming back,
  Dr `treasury:<budget_code>` / Cr `receivable:<uscc>` (kind `recovery_received`).

`post(session, lines, ...)` and `reverse(session, journal_id, reason)` are the
interface other modules use; both only add rows to the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from mianshen_shared.problems import ProblemError
from payment.models import LedgerEntry
from payment.money_repository import LedgerRepository

SETTLEMENT, RETURNED = "settlement", "returned"


class UnbalancedJournal(ValueError):
    """Debits and credits of a journal differ, or a line is not one-sided and positive."""


@dataclass(frozen=True)
class Line:
    account: str
    debit_fen: int = 0
    credit_fen: int = 0

    @classmethod
    def debit(cls, account: str, fen: int) -> Line:
        return cls(account, debit_fen=fen)

    @classmethod
    def credit(cls, account: str, fen: int) -> Line:
        return cls(account, credit_fen=fen)


@dataclass(frozen=True)
class Balance:
    accounts: list[tuple[str, int, int]]
    debit_fen: int
    credit_fen: int
    unbalanced_journals: list[uuid.UUID]

    @property
    def balanced(self) -> bool:
        return self.debit_fen == self.credit_fen and not self.unbalanced_journals


def expense_account(policy_id: str, fiscal_year: int) -> str:
    return f"expense:{policy_id}:{fiscal_year}"


def treasury_account(budget_code: str) -> str:
    return f"treasury:{budget_code}"


def receivable_account(uscc: str) -> str:
    return f"receivable:{uscc}"


def check_balanced(lines: Sequence[Line]) -> None:
    if len(lines) < 2:
        raise UnbalancedJournal("a journal needs at least two lines")
    for line in lines:
        if line.debit_fen < 0 or line.credit_fen < 0 or (line.debit_fen == 0) == (line.credit_fen == 0):
            raise UnbalancedJournal(f"line on {line.account} must debit or credit a positive amount, not both")
        if not line.account:
            raise UnbalancedJournal("a line needs an account")
    debits = sum(line.debit_fen for line in lines)
    credits = sum(line.credit_fen for line in lines)
    if debits != credits:
        raise UnbalancedJournal(f"debits {debits} <> credits {credits}")


async def post(
    session: AsyncSession,
    lines: Sequence[Line],
    *,
    kind: str,
    now: datetime,
    payment_id: uuid.UUID | None = None,
    memo: str = "",
    reverses: uuid.UUID | None = None,
) -> uuid.UUID:
    """Add one balanced journal to the session's transaction; returns its id."""
    check_balanced(lines)
    journal_id = uuid.uuid4()
    await LedgerRepository(session).add_lines(
        [
            LedgerEntry(
                journal_id=journal_id,
                line_no=number,
                account=line.account,
                debit_fen=line.debit_fen,
                credit_fen=line.credit_fen,
                payment_id=payment_id,
                kind=kind,
                memo=memo,
                reverses_journal_id=reverses,
                created_at=now,
            )
            for number, line in enumerate(lines, start=1)
        ]
    )
    return journal_id


async def reverse(
    session: AsyncSession, journal_id: uuid.UUID, reason: str, *, now: datetime, kind: str | None = None
) -> uuid.UUID:
    """Cancel a journal by posting its mirror image; a journal is reversed once."""
    repo = LedgerRepository(session)
    original = await repo.journal(journal_id)
    if not original:
        raise ProblemError(404, "journal_not_found", "未找到该记账凭证")
    if await repo.reversal_of(journal_id) is not None:
        raise ProblemError(409, "journal_already_reversed", "该记账凭证已冲销，不能重复冲销")
    return await post(
        session,
        [Line(entry.account, debit_fen=entry.credit_fen, credit_fen=entry.debit_fen) for entry in original],
        kind=kind or f"reversal:{original[0].kind}",
        now=now,
        payment_id=original[0].payment_id,
        memo=reason,
        reverses=journal_id,
    )


async def balance(session: AsyncSession) -> Balance:
    repo = LedgerRepository(session)
    accounts = await repo.totals_by_account()
    return Balance(
        accounts=accounts,
        debit_fen=sum(debit for _a, debit, _c in accounts),
        credit_fen=sum(credit for _a, _d, credit in accounts),
        unbalanced_journals=await repo.unbalanced_journals(),
    )
