"""The double-entry ledger: balanced journals only, never changed, corrected by reversal."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from mianshen_shared.problems import ProblemError
from payment import ledger
from payment.ledger import Line

from .money_support import NOW, payment_runtime

EXPENSE, TREASURY = "expense:zz-2022-02-specialized-sme-award:2026", "treasury:410100-HQZC-001"


@pytest.mark.unit
@pytest.mark.parametrize(
    "lines",
    [
        [Line.debit(EXPENSE, 100), Line.credit(TREASURY, 99)],
        [Line.debit(EXPENSE, 100)],
        [Line(EXPENSE, debit_fen=100, credit_fen=100), Line.credit(TREASURY, 0)],
        [Line.debit(EXPENSE, -5), Line.credit(TREASURY, -5)],
    ],
)
def test_a_journal_that_does_not_balance_is_refused_before_it_reaches_the_database(lines: list[Line]) -> None:
    with pytest.raises(ledger.UnbalancedJournal):
        ledger.check_balanced(lines)


@pytest.mark.integration
async def test_a_reversal_mirrors_its_journal_and_the_books_stay_balanced(pg_database) -> None:
    async with payment_runtime(await pg_database("payment")) as runtime:
        async with runtime.sessions() as session, session.begin():
            posted = await ledger.post(
                session, [Line.debit(EXPENSE, 150_000), Line.credit(TREASURY, 150_000)], kind="settlement", now=NOW
            )
            reversal = await ledger.reverse(session, posted, "银行退票", now=NOW)
            with pytest.raises(ProblemError) as again:
                await ledger.reverse(session, posted, "再次冲销", now=NOW)
        assert again.value.status == 409
        async with runtime.sessions() as session:
            balance = await ledger.balance(session)
            lines = await ledger.LedgerRepository(session).journal(reversal)
        assert balance.balanced and balance.debit_fen == balance.credit_fen == 300_000
        assert [(x.account, x.debit_fen, x.credit_fen) for x in lines] == [
            (EXPENSE, 0, 150_000),
            (TREASURY, 150_000, 0),
        ]
        assert {x.reverses_journal_id for x in lines} == {posted}


@pytest.mark.integration
async def test_postgresql_refuses_to_change_or_delete_a_ledger_line(pg_database) -> None:
    async with payment_runtime(await pg_database("payment")) as runtime:
        async with runtime.sessions() as session, session.begin():
            await ledger.post(session, [Line.debit(EXPENSE, 1), Line.credit(TREASURY, 1)], kind="settlement", now=NOW)
        for statement in ("UPDATE ledger_entries SET debit_fen = 2 WHERE debit_fen = 1", "DELETE FROM ledger_entries"):
            async with runtime.sessions() as session:
                with pytest.raises(DBAPIError, match="append-only"):
                    await session.execute(sa.text(statement))


@pytest.mark.integration
async def test_postgresql_refuses_an_unbalanced_journal_at_commit_whatever_the_code_did(pg_database) -> None:
    async with payment_runtime(await pg_database("payment")) as runtime:
        journal = uuid.uuid4()
        with pytest.raises(DBAPIError, match="does not balance"):
            async with runtime.sessions() as session, session.begin():
                await session.execute(
                    sa.text(
                        "INSERT INTO ledger_entries (journal_id, line_no, account, debit_fen, credit_fen, kind, memo,"
                        " created_at) VALUES (:j, 1, :a, 100, 0, 'settlement', '', now())"
                    ),
                    {"j": journal, "a": EXPENSE},
                )
        async with runtime.sessions() as session:
            assert (await ledger.balance(session)).accounts == []
