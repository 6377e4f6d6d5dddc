"""Telling an outage (retry, never skip) from a message's own fault (dead-letter).

Found by the PostgreSQL crash-restart fault test: asyncpg's "the database system is
starting up" reaches the consumer as a generic SQLAlchemy DBAPIError, which was
taken for a handler bug, so events were dead-lettered during the restart.
"""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from mianshen_shared import problems
from mianshen_shared.messaging.consumer import is_transient

pytestmark = pytest.mark.unit


def wrapped(orig: Exception) -> DBAPIError:
    """What SQLAlchemy's asyncpg dialect raises: the driver's error as `orig` and as the cause."""
    try:
        raise DBAPIError("SELECT 1", {}, orig) from orig
    except DBAPIError as exc:
        return exc


@pytest.mark.parametrize(
    "orig",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CrashShutdownError("terminating connection because of crash of another server process"),
        asyncpg.exceptions.ConnectionFailureError("connection failure"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        ConnectionResetError("reset by peer"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_an_outage_reported_as_a_generic_database_error_is_retried(orig: Exception) -> None:
    assert is_transient(wrapped(orig))


@pytest.mark.parametrize(
    "exc",
    [
        wrapped(asyncpg.exceptions.UndefinedTableError('relation "x" does not exist')),
        wrapped(asyncpg.exceptions.InvalidTextRepresentationError("invalid input syntax for type uuid")),
        IntegrityError("INSERT", {}, asyncpg.exceptions.UniqueViolationError("duplicate key")),
        ValueError("a handler bug"),
    ],
    ids=["undefined-table", "bad-input", "unique-violation", "handler-bug"],
)
def test_a_fault_of_the_message_or_the_code_is_not_retried(exc: Exception) -> None:
    assert not is_transient(exc)


def test_the_sqlalchemy_operational_error_stays_transient() -> None:
    assert is_transient(OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly")))


async def test_an_api_call_during_a_database_restart_answers_503_with_retry_after() -> None:
    app = FastAPI()
    problems.install(app)

    @app.get("/restarting")
    async def restarting() -> None:
        raise wrapped(asyncpg.exceptions.CannotConnectNowError("the database system is starting up"))

    @app.get("/broken")
    async def broken() -> None:
        raise ValueError("bug")

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as c:
        r = await c.get("/restarting")
        assert (r.status_code, r.json()["code"], r.headers["retry-after"]) == (503, "database_unavailable", "2")
        assert (await c.get("/broken")).status_code == 500
