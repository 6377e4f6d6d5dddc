from mianshen_shared.messaging.consumer import (
    BatchHandler,
    DeadLetter,
    DeadLetterHook,
    EventConsumer,
    Handler,
    Rejected,
    UnitOfWork,
)
from mianshen_shared.messaging.outbox import Outbox, OutboxRelay
from mianshen_shared.messaging.tables import create_messaging_tables, messaging_tables

__all__ = [
    "BatchHandler",
    "DeadLetter",
    "DeadLetterHook",
    "EventConsumer",
    "Handler",
    "Outbox",
    "OutboxRelay",
    "Rejected",
    "UnitOfWork",
    "create_messaging_tables",
    "messaging_tables",
]
