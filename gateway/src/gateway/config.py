from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mianshen_shared.config import ServiceSettings


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
