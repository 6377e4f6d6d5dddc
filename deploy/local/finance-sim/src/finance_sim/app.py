"""The simulator's HTTP API: the honest finance endpoints plus `/_sim` controls."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from finance_sim.faults import Faults
from finance_sim.schemas import (
    Allocation,
    Allocations,
    AllocationsSet,
    FaultCreate,
    InstructionCreate,
    InstructionRead,
    ReturnCreate,
    Statement,
)
from finance_sim.store import KeyConflict, Store

log = logging.getLogger("finance_sim")


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, **extra}, status_code=status)


def create_app(
    db_path: Path | str,
    *,
    timeout_delay_seconds: float = 10.0,
    connections: Collection[Any] | None = None,
) -> FastAPI:
    """`connections` is the uvicorn server's live connection set; with it a
    `drop_after_apply` fault can close the client's socket without an answer."""
    store = Store(db_path)
    faults = Faults(timeout_delay_seconds)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()

    app = FastAPI(title="财政预算管理一体化系统（模拟）", lifespan=lifespan)
    app.state.connections = connections

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]} for e in exc.errors()
        ]
        return _error(422, "invalid_request", "支付指令格式不正确", errors=errors)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/payment-instructions", response_model=InstructionRead)
    async def submit(request: Request, body: InstructionCreate) -> Response:
        store.count_submission(body.idempotency_key)
        fault = faults.take()
        if fault is not None and fault.mode == "fail":
            return _error(503, "service_unavailable", "系统繁忙，请稍后重试")
        if fault is not None and fault.mode == "reject":
            return _error(422, fault.code, fault.message)
        if fault is not None and fault.mode == "timeout":
            await asyncio.sleep(fault.delay_seconds)
        try:
            instruction, created = store.settle(body)
        except KeyConflict:
            return _error(409, "idempotency_key_conflict", "幂等键已用于内容不同的支付指令")
        log.info("instruction %s for key %s (created=%s)", instruction.instruction_id, body.idempotency_key, created)
        if fault is not None and fault.mode == "drop_after_apply":
            await _drop(request, fault.delay_seconds)
            return Response(status_code=204)
        return JSONResponse(instruction.model_dump(mode="json"), status_code=201 if created else 200)

    @app.get("/api/v1/payment-instructions/{idempotency_key}", response_model=InstructionRead)
    async def get_instruction(idempotency_key: str) -> Response:
        instruction = store.get(idempotency_key)
        if instruction is None:
            return _error(404, "instruction_not_found", "未找到该幂等键对应的支付指令")
        return JSONResponse(instruction.model_dump(mode="json"))

    @app.get("/api/v1/statement", response_model=Statement)
    async def statement(day: Annotated[date, Query(alias="date")]) -> Statement:
        instructions = store.settled_on(day)
        return Statement(
            date=day.isoformat(),
            count=len(instructions),
            total_amount_fen=sum(i.amount_fen for i in instructions),
            instructions=instructions,
            returned=store.returned_on(day),
        )

    @app.get("/api/v1/budgets", response_model=Allocations)
    async def budgets(year: Annotated[int, Query(ge=2000, le=2100)]) -> Allocations:
        return Allocations(
            year=year,
            allocations=[
                Allocation(budget_code=code, policy_id=policy_id, amount_fen=fen)
                for code, policy_id, fen in store.allocations(year)
            ],
        )

    @app.put("/_sim/budgets/{year}", response_model=Allocations, include_in_schema=False)
    async def set_budgets(year: int, body: AllocationsSet) -> Allocations:
        store.set_allocations(year, [(a.budget_code, a.policy_id, a.amount_fen) for a in body.allocations])
        return Allocations(year=year, allocations=body.allocations)

    @app.post("/_sim/instructions/{idempotency_key}/return", response_model=InstructionRead, include_in_schema=False)
    async def return_instruction(idempotency_key: str, body: ReturnCreate) -> Response:
        """Play the payee's bank sending a settled payment back (退票)."""
        instruction = store.mark_returned(idempotency_key, body.reason)
        if instruction is None:
            return _error(404, "instruction_not_found", "未找到该幂等键对应的支付指令")
        return JSONResponse(instruction.model_dump(mode="json"))

    @app.post("/_sim/faults", status_code=201, include_in_schema=False)
    async def arm_fault(spec: FaultCreate) -> dict[str, Any]:
        faults.arm(spec)
        return {"armed": [vars(f) for f in faults.pending()]}

    @app.delete("/_sim/faults", status_code=204, include_in_schema=False)
    async def clear_faults() -> Response:
        faults.clear()
        return Response(status_code=204)

    @app.get("/_sim/instructions", response_model=list[InstructionRead], include_in_schema=False)
    async def all_instructions() -> list[InstructionRead]:
        return store.all()

    @app.get("/_sim/submissions", include_in_schema=False)
    async def submissions() -> dict[str, int]:
        return store.submissions()

    return app


async def _drop(request: Request, fallback_seconds: float) -> None:
    """Close the client's connection with no response at all, the way a gateway
    that crashed after forwarding would. Without access to the socket, hang."""
    client = request.scope.get("client")
    for connection in list(request.app.state.connections or ()):
        if client is not None and getattr(connection, "client", None) == tuple(client):
            connection.transport.abort()
            # Let uvicorn notice the disconnect, so it does not answer with a 500.
            await asyncio.sleep(0.05)
            return
    await asyncio.sleep(fallback_seconds)
