from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mianshen_shared.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MIANSHEN_", extra="ignore")

    service_name: str = "policy-catalog"
    # How often the announcer looks for published versions whose effective date has come.
    announce_interval_seconds: float = Field(default=60.0, gt=0)
