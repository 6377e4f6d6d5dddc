"""mianshen_shared — the platform's common package: events, messaging, web shell, rules of identity."""
