"""Settings common to every service; each service subclasses with its own prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[3]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MIANSHEN_", extra="ignore")

    service_name: str = "unnamed"
    environment: str = Field(default="development", pattern="^(development|test|production)$")
    database_url: str = ""
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    # Consumers and relays can be switched off for API-only unit tests.
    messaging_enabled: bool = True
    log_level: str = "INFO"
    state_dir: Path = REPO_ROOT / ".local" / "state"
    # Shared with the gateway (issue 5): set, a service answers only calls carrying a
    # valid X-Gateway-Token; empty (development, tests) nothing is checked. Required in
    # production, where create_service_app refuses to build the app without it (a
    # validator here would pre-empt the gateway's own, more specific ones).
    internal_secret: str = Field(default="", repr=False)

    @model_validator(mode="after")
    def _default_database(self) -> ServiceSettings:
        if not self.database_url:
            if self.environment == "production":
                raise ValueError("MIANSHEN_DATABASE_URL must be set in production")
            db_file = self.state_dir / f"{self.service_name.replace('-', '_')}.sqlite"
            self.database_url = f"sqlite+aiosqlite:///{db_file}"
        return self

    def topic(self, name: str) -> str:
        from mianshen_shared.topics import physical

        return physical(name, self.topic_prefix)
