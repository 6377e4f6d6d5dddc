"""policy-catalog consumes nothing: it is the source of the `policies` topic.

The empty table keeps the service's shape; the runtime still runs the outbox relay
and the announcer (announcer.py).
"""

from __future__ import annotations

from mianshen_shared.messaging.consumer import Handler

HANDLERS: dict[str, Handler] = {}
CONSUMED_TOPICS: list[str] = []
