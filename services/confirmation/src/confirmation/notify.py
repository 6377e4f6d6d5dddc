"""The front-end notify adapter: delivers the `notifications` rows to 亲清在线 and 郑好办.

Each notification is POSTed as JSON to every configured front end with its id as
`Idempotency-Key` (so a retry after a lost answer is not shown twice) and an
HMAC-SHA256 of the exact body under the shared secret in `X-Signature`. Connection
errors, 5xx and 429 are retried with exponential backoff; after the last attempt,
or at once for an answer that retrying cannot change (401, 422, …), the
notification is `failed` and operators see it. Rows are claimed with
FOR UPDATE SKIP LOCKED, so two replicas never send the same one at the same time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from confirmation.models import Notification
from confirmation.repository import ConfirmationRepository
from mianshen_shared import db
from mianshen_shared.runtime import Runtime

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
NOTIFICATIONS_PATH = "/api/v1/notifications"


def body_of(notification: Notification) -> bytes:
    document: dict[str, Any] = {
        "notification_id": str(notification.notification_id),
        "uscc": notification.uscc,
        "kind": notification.kind,
        "title": notification.title,
        "message": notification.message,
        "entitlement_id": str(notification.entitlement_id) if notification.entitlement_id else None,
        "confirmation_id": str(notification.confirmation_id) if notification.confirmation_id else None,
        "created_at": notification.created_at.astimezone(UTC).isoformat(),
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class DeliveryPolicy:
    front_ends: Mapping[str, str]  # name -> base URL
    secret: str
    max_attempts: int = 8
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 600.0

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.retry_base_seconds * 2 ** (attempts - 1), self.retry_max_seconds))


class _Retry(Exception):
    pass


class _GiveUp(Exception):
    pass


async def _post(client: httpx.AsyncClient, url: str, body: bytes, *, key: str, secret: str) -> None:
    try:
        response = await client.post(
            url,
            content=body,
            headers={
                "Content-Type": "application/json",
                IDEMPOTENCY_HEADER: key,
                SIGNATURE_HEADER: sign(body, secret),
            },
        )
    except httpx.TransportError as exc:
        raise _Retry(f"{type(exc).__name__}") from exc
    if response.is_success:
        return
    if response.status_code == 429 or response.status_code >= 500:
        raise _Retry(f"HTTP {response.status_code}")
    raise _GiveUp(f"HTTP {response.status_code}: {response.text[:200]}")


async def deliver(
    notification: Notification, *, client: httpx.AsyncClient, policy: DeliveryPolicy, now: datetime
) -> None:
    """One attempt at every front end that has not taken the notification yet."""
    body = body_of(notification)
    delivered = list(notification.delivered_to or [])
    errors: list[str] = []
    gave_up = False
    for name, base in policy.front_ends.items():
        if name in delivered:
            continue
        try:
            await _post(
                client,
                base.rstrip("/") + NOTIFICATIONS_PATH,
                body,
                key=str(notification.notification_id),
                secret=policy.secret,
            )
            delivered.append(name)
        except _Retry as exc:
            errors.append(f"{name}: {exc}")
        except _GiveUp as exc:
            errors.append(f"{name}: {exc}")
            gave_up = True
    notification.delivered_to = delivered
    notification.attempts += 1
    if not errors:
        notification.status = "delivered"
        notification.delivered_at = now
        notification.last_error = None
        return
    notification.last_error = "; ".join(errors)[:500]
    if gave_up or notification.attempts >= policy.max_attempts:
        notification.status = "failed"
        log.warning(
            "notification %s failed after %d attempts: %s",
            notification.notification_id,
            notification.attempts,
            notification.last_error,
        )
    else:
        notification.next_attempt_at = now + policy.backoff(notification.attempts)


async def deliver_due(runtime: Runtime, *, client: httpx.AsyncClient, policy: DeliveryPolicy, batch_size: int) -> int:
    """One round: claims due notifications, tries each, records the outcome; returns how many were tried."""
    now = datetime.now(UTC)
    async with db.transaction(runtime.sessions) as session:
        due = await ConfirmationRepository(session).due_notifications(now, limit=batch_size)
        for notification in due:
            await deliver(notification, client=client, policy=policy, now=now)
    return len(due)


def notify_worker(
    policy: DeliveryPolicy, *, poll_seconds: float, timeout_seconds: float, batch_size: int
) -> Callable[[Runtime], Awaitable[None]]:
    async def run(runtime: Runtime) -> None:
        async with httpx.AsyncClient(timeout=timeout_seconds) as client:
            while True:
                try:
                    tried = await deliver_due(runtime, client=client, policy=policy, batch_size=batch_size)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("notification delivery round failed; will try again")
                    tried = 0
                if tried < batch_size:
                    await asyncio.sleep(poll_seconds)

    run.__name__ = "notify-worker"
    return run
