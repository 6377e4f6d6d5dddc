from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import SettingsConfigDict

from mianshen_shared.config import ServiceSettings


class RateLimit(BaseModel):
    """A sustained rate with a burst on top: `burst` requests may arrive at once,
    after which one more is admitted every 1/`per_second` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_second: float = Field(gt=0)
    burst: int = Field(ge=1)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MIANSHEN_", extra="ignore")

    service_name: str = "gateway"
    policy_catalog_url: str = "http://127.0.0.1:8001"
    eligibility_url: str = "http://127.0.0.1:8002"
    confirmation_url: str = "http://127.0.0.1:8003"
    credit_check_url: str = "http://127.0.0.1:8004"
    payment_url: str = "http://127.0.0.1:8005"
    upstream_timeout_seconds: float = Field(default=10.0, gt=0)
    # How long a batch may wait for the broker's acknowledgements before the
    # department is told to retry; aiokafka's own default (40 s) outlasts most clients.
    publish_timeout_seconds: float = Field(default=10.0, gt=0)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_batch_records: int = Field(default=500, ge=1)
    # Rate limits (gateway.ratelimit), shared by every replica through one Redis.
    # Empty turns them off, which only unit tests and the embedded quick start want.
    rate_limit_redis_url: str = ""
    rate_limit_key_prefix: str = "mianshen:ratelimit:"
    # Redis is on the path of every request: a slow store must not become a slow gateway.
    rate_limit_redis_timeout_seconds: float = Field(default=0.25, gt=0)
    rate_limits: dict[str, RateLimit] = Field(
        default_factory=lambda: {
            "frontend": RateLimit(per_second=50, burst=100),
            "department": RateLimit(per_second=20, burst=40),
            "operator": RateLimit(per_second=10, burst=20),
            "third_party": RateLimit(per_second=5, burst=10),
            "anonymous": RateLimit(per_second=5, burst=10),
        }
    )
    # Raising an objection is open to anyone and starts work for an operator, so it
    # gets its own, much smaller allowance per caller on top of the general one.
    objection_rate_limit: RateLimit = RateLimit(per_second=0.1, burst=5)
    # Per-service overrides of upstream_timeout_seconds, e.g. {"payment": 20}.
    upstream_timeouts: dict[str, float] = Field(default_factory=dict)
    # Extra attempts for idempotent (GET) calls after a connection failure or a 502/503.
    upstream_retries: int = Field(default=1, ge=0, le=5)
    upstream_retry_backoff_seconds: float = Field(default=0.05, ge=0, le=2)

    @model_validator(mode="after")
    def _rate_limits_in_production(self) -> Settings:
        if self.environment == "production" and not self.rate_limit_redis_url:
            raise ValueError("MIANSHEN_RATE_LIMIT_REDIS_URL must be set in production")
        missing = {"frontend", "department", "operator", "third_party", "anonymous"} - set(self.rate_limits)
        if missing:
            raise ValueError(f"rate_limits lacks client kinds: {sorted(missing)}")
        services = {"policy-catalog", "eligibility", "confirmation", "credit-check", "payment"}
        if unknown := set(self.upstream_timeouts) - services:
            raise ValueError(f"upstream_timeouts names unknown services: {sorted(unknown)}")
        return self

    # --- authentication (issue 5) ---------------------------------------------------
    # Off only for development stacks whose callers do not authenticate yet; refused in
    # production. Credentials that are presented are verified either way.
    auth_required: bool = True
    # Ed25519 signing keys for access tokens, `<kid>:<base64 32-byte private key>`
    # separated by commas; the first signs, every one verifies (rotation). Empty: a
    # development key generated once under state_dir, refused in production.
    gateway_signing_keys: str = Field(default="", repr=False)
    token_issuer: str = "https://gateway.mianshen.zhengzhou.gov.cn"
    token_lifetime_seconds: int = Field(default=300, ge=30, le=3600)
    # The development/test client registry (plaintext secrets), loaded at start.
    bootstrap_clients_file: Path | None = None
    # Shared with the services: the gateway signs X-Gateway-Token with it.
    internal_secret: str = Field(default="", repr=False)
    # HMAC keys of the audit chain, `<kid>:<base64 32 bytes>` separated by commas; the
    # first signs, every one verifies. Empty: a published development key, refused
    # in production (gateway.audit).
    audit_keys: str = Field(default="", repr=False)
    # How often the chain head is logged as an anchor (`audit_anchor SEQ:HASH`) for
    # `python -m gateway.audit verify --anchor`; 0 turns it off.
    audit_anchor_seconds: float = Field(default=300.0, ge=0)
    # How long a process keeps a front end's status and assertion keys: disabling a
    # front end takes effect within this time, on every replica.
    client_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    # The load balancers / ingress controllers in front of the gateway, as addresses
    # or CIDRs separated by commas ("10.42.0.0/16"). Only their X-Forwarded-For is
    # believed; empty: the TCP peer is the caller and the header is ignored.
    trusted_proxies: str = ""

    @model_validator(mode="after")
    def _secure_in_production(self) -> Settings:
        if self.environment == "production":
            if not self.auth_required:
                raise ValueError("MIANSHEN_AUTH_REQUIRED=false is refused in production")
            if self.bootstrap_clients_file is not None:
                raise ValueError("MIANSHEN_BOOTSTRAP_CLIENTS_FILE (plaintext secrets) is refused in production")
            if not self.gateway_signing_keys:
                raise ValueError("MIANSHEN_GATEWAY_SIGNING_KEYS must be set in production")
            if not self.internal_secret:
                raise ValueError("MIANSHEN_INTERNAL_SECRET must be set in production")
            if not self.audit_keys:
                raise ValueError("MIANSHEN_AUDIT_KEYS must be set in production")
        return self
