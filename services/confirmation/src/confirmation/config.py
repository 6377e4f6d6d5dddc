from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mianshen_shared.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MIANSHEN_", extra="ignore")

    service_name: str = "confirmation"
    # How often overdue requests are closed as expired; 0 switches the sweep off.
    expiry_sweep_seconds: float = Field(default=300.0, ge=0)
