"""Service configuration, read from PINET_* environment variables (or a .env file)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pinet.inference import models_dir


class Settings(BaseSettings):
    """Every knob of the service; e.g. PINET_MAX_BATCH_SIZE=64 sets `max_batch_size`."""

    model_config = SettingsConfigDict(env_prefix="PINET_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # Same variable as pinet.load_model's: PINET_MODELS_DIR, else the bundled models/.
    models_dir: Path = Field(default_factory=models_dir)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Threads of each CPU forward pass (torch intra-op); default: torch's, one per core. On a
    # machine shared with other busy processes, 1 avoids threads waiting for each other.
    torch_threads: PositiveInt | None = None

    # Dynamic batching: a forward pass starts when `max_batch_size` same-shaped requests
    # wait, or `max_wait_ms` after the first one arrived; beyond `queue_size` waiting
    # requests per model, new ones are refused with 503 + Retry-After.
    max_batch_size: PositiveInt = 32
    max_wait_ms: float = Field(default=5.0, ge=0.0)
    queue_size: PositiveInt = 256
    # Exact PIs (compare=true) run in this many worker threads; at most `queue_size`
    # comparisons wait for one.
    exact_workers: PositiveInt = 2
    retry_after_s: PositiveFloat = 1.0

    # Input limits, checked before anything large is decoded or allocated.
    max_body_bytes: PositiveInt = 16 * 2**20
    max_signal_length: PositiveInt = 100_000
    max_image_pixels: PositiveInt = 2048 * 2048
    # Inputs in one :batch request; the body limit above bounds their bytes as well.
    max_batch_items: PositiveInt = 1024

    api_key: SecretStr | None = None  # when set, /v1 routes need an X-API-Key header
    cors_origins: list[str] = Field(default_factory=list)

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_no_key(cls, value: object) -> object:
        """PINET_API_KEY= (set but empty, as docker compose passes an unset variable)
        means no key, not a key that is the empty string."""
        return None if value == "" else value
