from mianshen_shared.events.catalog import EVENTS, EventSpec, Payload, make_envelope, parse_payload
from mianshen_shared.events.envelope import Envelope, InvalidEvent, parse_envelope

__all__ = [
    "EVENTS",
    "Envelope",
    "EventSpec",
    "InvalidEvent",
    "Payload",
    "make_envelope",
    "parse_envelope",
    "parse_payload",
]
