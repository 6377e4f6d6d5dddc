"""frontend-sim — a stand-in for the enterprise front ends 亲清在线 and 郑好办.

It receives the platform's notifications, checks their HMAC-SHA256 signature,
keeps each once per front end and Idempotency-Key in SQLite, lists them, and can
be told to fail the next N deliveries (`/_sim/faults`) so the notify worker's
retries and give-up can be tested.
"""
