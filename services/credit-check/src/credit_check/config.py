from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mianshen_shared.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MIANSHEN_", extra="ignore")

    service_name: str = "credit-check"
    # How often held payments are checked for black records that expired.
    release_sweep_seconds: float = Field(default=60.0, gt=0)
    release_sweep_batch: int = Field(default=200, ge=1, le=10_000)
