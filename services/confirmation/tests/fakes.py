from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from confirmation.models import Confirmation, Entitlement, StatusEvent
from mianshen_shared.events import Payload


class FakeConfirmationRepository:
    """In-memory stand-in for ConfirmationRepository with the same rules of visibility."""

    def __init__(self) -> None:
        self.entitlements: dict[uuid.UUID, Entitlement] = {}
        self.confirmations: dict[uuid.UUID, Confirmation] = {}
        self.history: list[StatusEvent] = []

    async def lock_entitlement(self, entitlement_id: uuid.UUID) -> Entitlement | None:
        return self.entitlements.get(entitlement_id)

    async def add_entitlement(self, entitlement: Entitlement) -> None:
        self.entitlements[entitlement.entitlement_id] = entitlement

    async def add_status_event(self, event: StatusEvent) -> None:
        self.history.append(event)

    async def status_events(self, entitlement_id: uuid.UUID) -> list[StatusEvent]:
        return [e for e in self.history if e.entitlement_id == entitlement_id]

    async def entitlement_of(self, uscc: str, entitlement_id: uuid.UUID) -> Entitlement | None:
        found = self.entitlements.get(entitlement_id)
        return found if found is not None and found.uscc == uscc else None

    async def entitlements_of(self, uscc: str) -> list[Entitlement]:
        return [e for e in self.entitlements.values() if e.uscc == uscc]

    async def confirmation_for_entitlement(self, entitlement_id: uuid.UUID) -> Confirmation | None:
        return next((c for c in self.confirmations.values() if c.entitlement_id == entitlement_id), None)

    async def confirmation_of(self, uscc: str, confirmation_id: uuid.UUID) -> Confirmation | None:
        found = self.confirmations.get(confirmation_id)
        return found if found is not None and found.uscc == uscc else None

    async def add_confirmation(self, confirmation: Confirmation) -> None:
        self.confirmations[confirmation.confirmation_id] = confirmation

    async def confirmations_of(
        self, uscc: str, *, status: str | None, today: date
    ) -> list[tuple[Confirmation, Entitlement]]:
        def matches(c: Confirmation) -> bool:
            overdue = c.status == "pending" and c.deadline < today
            if status == "pending":
                return c.status == "pending" and not overdue
            if status == "expired":
                return c.status == "expired" or overdue
            return status is None or c.status == status

        return [
            (c, self.entitlements[c.entitlement_id])
            for c in self.confirmations.values()
            if c.uscc == uscc and matches(c)
        ]

    async def overdue_confirmations(self, today: date, *, limit: int = 500) -> list[Confirmation]:
        return [c for c in self.confirmations.values() if c.status == "pending" and c.deadline < today][:limit]

    def kinds(self, entitlement_id: uuid.UUID) -> list[str]:
        return [e.kind for e in self.history if e.entitlement_id == entitlement_id]


@dataclass
class RecordingEmitter:
    """Collects what the service emits, with the message key it chose."""

    emitted: list[tuple[Payload, str]] = field(default_factory=list)

    async def __call__(self, payload: Payload, *, key: str) -> None:
        self.emitted.append((payload, key))

    def of_type(self, payload_type: type[Payload]) -> list[Payload]:
        return [p for p, _ in self.emitted if isinstance(p, payload_type)]
