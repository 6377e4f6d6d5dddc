from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from confirmation.models import Confirmation, Entitlement, Notification, ReminderSent, SavedBankAccount, StatusEvent
from mianshen_shared.events import Payload


class FakeConfirmationRepository:
    """In-memory stand-in for ConfirmationRepository with the same rules of visibility."""

    def __init__(self) -> None:
        self.entitlements: dict[uuid.UUID, Entitlement] = {}
        self.confirmations: dict[uuid.UUID, Confirmation] = {}
        self.history: list[StatusEvent] = []
        self.notifications: list[Notification] = []
        self.accounts: dict[uuid.UUID, SavedBankAccount] = {}
        self.reminders: set[tuple[uuid.UUID, date, int]] = set()
        self.calls: list[str] = []  # the repository methods called, in order

    async def lock_entitlement(self, entitlement_id: uuid.UUID) -> Entitlement | None:
        self.calls.append("lock_entitlement")
        return self.entitlements.get(entitlement_id)

    async def lock_entitlements(self, entitlement_ids: Sequence[uuid.UUID]) -> list[Entitlement]:
        self.calls.append("lock_entitlements")
        return [self.entitlements[i] for i in entitlement_ids if i in self.entitlements]

    async def confirmations_for_entitlements(self, entitlement_ids: Sequence[uuid.UUID]) -> list[Confirmation]:
        self.calls.append("confirmations_for_entitlements")
        wanted = set(entitlement_ids)
        return [c for c in self.confirmations.values() if c.entitlement_id in wanted]

    async def add_new(self, entitlements: Sequence[Entitlement], confirmations: Sequence[Confirmation]) -> None:
        self.calls.append("add_new")
        self.entitlements.update((e.entitlement_id, e) for e in entitlements)
        self.confirmations.update((c.confirmation_id, c) for c in confirmations)

    async def add_status_events(self, events: Sequence[StatusEvent]) -> None:
        self.calls.append("add_status_events")
        self.history.extend(events)

    async def add_entitlement(self, entitlement: Entitlement) -> None:
        self.calls.append("add_entitlement")
        self.entitlements[entitlement.entitlement_id] = entitlement

    async def add_status_event(self, event: StatusEvent) -> None:
        self.calls.append("add_status_event")
        self.history.append(event)

    async def status_events(self, entitlement_id: uuid.UUID) -> list[StatusEvent]:
        return [e for e in self.history if e.entitlement_id == entitlement_id]

    async def entitlement_of(self, uscc: str, entitlement_id: uuid.UUID) -> Entitlement | None:
        found = self.entitlements.get(entitlement_id)
        return found if found is not None and found.uscc == uscc else None

    async def entitlements_of(self, uscc: str) -> list[Entitlement]:
        return [e for e in self.entitlements.values() if e.uscc == uscc]

    async def confirmation_for_entitlement(self, entitlement_id: uuid.UUID) -> Confirmation | None:
        self.calls.append("confirmation_for_entitlement")
        return next((c for c in self.confirmations.values() if c.entitlement_id == entitlement_id), None)

    async def confirmation_of(self, uscc: str, confirmation_id: uuid.UUID) -> Confirmation | None:
        found = self.confirmations.get(confirmation_id)
        return found if found is not None and found.uscc == uscc else None

    async def add_confirmation(self, confirmation: Confirmation) -> None:
        self.calls.append("add_confirmation")
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

    async def add_notification(self, notification: Notification) -> None:
        self.notifications.append(notification)

    async def add_notifications(self, notifications: Sequence[Notification]) -> None:
        self.calls.append("add_notifications")
        self.notifications.extend(notifications)

    async def saved_accounts_of(self, uscc: str) -> list[SavedBankAccount]:
        return [a for a in self.accounts.values() if a.uscc == uscc]

    async def saved_account_of(self, uscc: str, account_id: uuid.UUID) -> SavedBankAccount | None:
        found = self.accounts.get(account_id)
        return found if found is not None and found.uscc == uscc else None

    async def add_saved_account(self, account: SavedBankAccount) -> None:
        self.accounts[account.account_id] = account

    async def claim_reminder_candidates(
        self, today: date, until: date, *, limit: int = 500
    ) -> list[tuple[Confirmation, Entitlement, set[int]]]:
        due = [c for c in self.confirmations.values() if c.status == "pending" and today <= c.deadline <= until]
        return [
            (
                c,
                self.entitlements[c.entitlement_id],
                {d for cid, deadline, d in self.reminders if cid == c.confirmation_id and deadline == c.deadline},
            )
            for c in due[:limit]
        ]

    async def add_reminder(self, reminder: ReminderSent) -> None:
        key = (reminder.confirmation_id, reminder.deadline, reminder.days_before)
        assert key not in self.reminders, "the same reminder was claimed twice"
        self.reminders.add(key)

    def acceptance_of(self, entitlement_id: uuid.UUID) -> uuid.UUID | None:
        """The current acceptance's id, as credit-check would have read it from ConfirmationAccepted."""
        found = next((c for c in self.confirmations.values() if c.entitlement_id == entitlement_id), None)
        return found.acceptance_id if found is not None else None

    def kinds(self, entitlement_id: uuid.UUID) -> list[str]:
        return [e.kind for e in self.history if e.entitlement_id == entitlement_id]


@dataclass
class RecordingEmitter:
    """Collects what the service emits, with the message key it chose."""

    emitted: list[tuple[Payload, str]] = field(default_factory=list)
    correlation_ids: list[str | None] = field(default_factory=list)

    async def __call__(self, payload: Payload, *, key: str, correlation_id: str | None = None) -> None:
        self.emitted.append((payload, key))
        self.correlation_ids.append(correlation_id)

    def of_type(self, payload_type: type[Payload]) -> list[Payload]:
        return [p for p, _ in self.emitted if isinstance(p, payload_type)]
