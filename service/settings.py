"""Service configuration, read from PINET_* environment variables (or a .env file)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pinet.inference import models_dir
from pinet.modality import Modality


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
    # Whether onnxruntime's idle threads busy-wait for the next forward pass (its default):
    # faster passes back to back, but each request then costs a core's worth of spinning
    # after its pass (measured on 2 cores: 11 ms of CPU per sparse request against 0.65).
    onnxruntime_spinning: bool = False
    # Whether an int8 model that ships a 7-bit twin of its graph runs the twin: unset, on
    # x86 CPUs without VNNI, whose 8-bit sums can saturate (measured there: the image
    # student 12% less accurate in 8 bits, 1.4% in 7; docs/training.md).
    seven_bit_graphs: bool | None = None
    # The model that answers a request naming none, by modality, e.g.
    # PINET_DEFAULT_MODELS='{"signal": "signal-hapt"}'. A modality left out gets the
    # device's rule: on CUDA its most accurate model (lowest test MSE over the mean PI's),
    # on a CPU its cheapest forward pass (an int8 graph, then the fewest weights), the most
    # accurate of equally cheap ones.
    default_models: dict[Modality, str] = Field(default_factory=dict)

    # Dynamic batching: a forward pass starts when `max_batch_size` same-shaped requests
    # wait, or `max_wait_ms` after the first one arrived; beyond `queue_size` waiting
    # requests per model, new ones are refused with 503 + Retry-After.
    max_batch_size: PositiveInt = 32
    max_wait_ms: float = Field(default=5.0, ge=0.0)
    queue_size: PositiveInt = 256
    # Exact PIs (compare=true, /v1/*/topology) run in this many worker threads; at most
    # `queue_size` computations are pending.
    exact_workers: PositiveInt = 2
    retry_after_s: PositiveFloat = 1.0
    # A signal answered by a sublevel model gets a note when a channel reaches this many
    # standard deviations from its mean: there learned PIs are least accurate (docs/api.md).
    far_value_z: PositiveFloat = 4.0

    # Input limits, checked before anything large is decoded or allocated.
    max_body_bytes: PositiveInt = 16 * 2**20
    max_signal_length: PositiveInt = 100_000
    max_image_pixels: PositiveInt = 2048 * 2048
    # Inputs in one :batch request; the body limit above bounds their bytes as well.
    max_batch_items: PositiveInt = 1024
    # The cost model. A forward pass costs time and memory in proportion to the values it
    # sees (channels x samples, or channels x pixels): measured on 2 CPU cores, 2^20 values
    # took the bundled signal model 5.6 s and 1.2 GB, the image model 0.9 s and 0.35 GB.
    # One input may hold at most `max_input_elements` values and `max_channels` channels; a
    # forward pass takes same-shaped inputs up to `max_pass_elements` values in all; inputs
    # over `large_input_elements` values run in their model's own lane, so that they never
    # hold up batches of small requests.
    max_input_elements: PositiveInt = 2**20
    max_channels: PositiveInt = 64
    max_pass_elements: PositiveInt = 2**20
    large_input_elements: PositiveInt = 2**16
    # What a response may hold: PIs in all (N x C, JSON or .npy; 3,072 is 1,024 3-channel
    # inputs, about 90 MB of JSON), and channels drawn by ?format=png (about 0.4 s each).
    max_response_pis: PositiveInt = 3072
    max_png_channels: PositiveInt = 8
    # Exact topology (/v1/*/topology), whose cost depends on the recipe. The sublevel and
    # cubical recipes are near-linear in the values they see: one input holds at most
    # `max_topology_values` of them (channels x samples or pixels). Rips H1 grows fast with
    # the points of its cloud (a 32x32 image channel, 1,024 points: 0.05-0.2 s of CPU for a
    # photo, up to about 2 s for black-and-white noise, where no threshold below the full one
    # holds): each channel gives image-rips at most `max_rips_points` pixels and signal-takens
    # at most that many embedded points; channels add up (at most `max_channels` of them).
    max_topology_values: PositiveInt = 2**18
    max_rips_points: PositiveInt = 1024
    # Time budgets, in seconds: a request's answer must start within `request_timeout_s` of
    # its arrival (else 503); its body must arrive within `body_timeout_s` (else 408); its
    # request line and headers within `header_timeout_s` of the connection opening or of
    # their first byte (else 408 and the connection is closed), at most `max_header_bytes`
    # of them (else 431); an idle keep-alive connection is closed after `keep_alive_s`,
    # longer than the 60 s idle timeout of common load balancers (AWS ALB's default), so
    # that the proxy closes it first. The header guards apply under `python -m service`.
    request_timeout_s: PositiveFloat = 60.0
    body_timeout_s: PositiveFloat = 60.0
    header_timeout_s: PositiveFloat = 10.0
    max_header_bytes: PositiveInt = 32 * 2**10
    keep_alive_s: PositiveFloat = 65.0

    api_key: SecretStr | None = None  # when set, /v1 routes need an X-API-Key header
    cors_origins: list[str] = Field(default_factory=list)

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_no_key(cls, value: object) -> object:
        """PINET_API_KEY= (set but empty, as docker compose passes an unset variable)
        means no key, not a key that is the empty string."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _one_input_fits_a_pass(self) -> Settings:
        if self.max_input_elements > self.max_pass_elements:
            raise ValueError(
                f"max_input_elements ({self.max_input_elements}) must not exceed "
                f"max_pass_elements ({self.max_pass_elements}): an input runs in one pass"
            )
        return self
