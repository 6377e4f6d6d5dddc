from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from mianshen_shared.config import ServiceSettings

# Only for development and tests; refused in production like the development account key.
DEVELOPMENT_NOTIFY_SECRET = "mianshen-development-notify-secret"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MIANSHEN_", extra="ignore")

    service_name: str = "confirmation"
    # How often overdue requests are closed as expired (and reminders sent); 0 switches the sweep off.
    expiry_sweep_seconds: float = Field(default=300.0, ge=0)
    # Days before the deadline on which the enterprise is reminded, once each.
    reminder_days: list[int] = Field(default_factory=lambda: [7, 1])
    # The key ring that seals bank account numbers (mianshen_shared.sealing); empty: development key.
    account_keys: str = ""
    # Front ends that show notifications to the enterprise (亲清在线, 郑好办): name -> base URL.
    frontend_urls: dict[str, str] = Field(
        default_factory=lambda: {
            "qinqing": "http://127.0.0.1:8091/qinqing",
            "zhenghaoban": "http://127.0.0.1:8091/zhenghaoban",
        }
    )
    # Shared with the front ends: the HMAC-SHA256 key of the X-Signature header.
    notify_secret: str = DEVELOPMENT_NOTIFY_SECRET
    notify_timeout_seconds: float = Field(default=5.0, gt=0)
    notify_max_attempts: int = Field(default=8, ge=1)
    notify_retry_base_seconds: float = Field(default=2.0, gt=0)
    notify_retry_max_seconds: float = Field(default=600.0, gt=0)
    # 0 switches the delivery worker off.
    notify_poll_seconds: float = Field(default=1.0, ge=0)
    notify_batch_size: int = Field(default=20, ge=1)

    @model_validator(mode="after")
    def _no_development_secret_in_production(self) -> Settings:
        if self.environment == "production" and self.notify_secret == DEVELOPMENT_NOTIFY_SECRET:
            raise ValueError("MIANSHEN_NOTIFY_SECRET must be set in production")
        if any(d < 1 for d in self.reminder_days):
            raise ValueError("reminder_days must be positive")
        return self
