"""The one prediction path: load a model, prepare raw inputs for it, compute PIs.

    raw (N, C, T) / (N, C, H, W)  --prepare-->  network inputs (float32 tensor)
                                  --forward-->  PIs (N, C, 50, 50) float32 in [0, 1]

`LoadedModel.prepare` checks a raw batch against the model's card (channels, size) and
turns it into network inputs (`network_inputs`: the same transform training uses);
`LoadedModel.forward` runs a batch of them through the model's backend. `pinet.predict`,
training's evaluation, the service's batcher and warm-up, and the benchmarks all go through
these two calls, so a new way of running a model (another runtime, another precision) is a
new `Backend` and nothing else.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from pinet.card import ModelCard
from pinet.checkpoint import WEIGHTS_FILE, load_checkpoint, read_card, runtime_file
from pinet.device import autocast, int8_sums_saturate, precision, resolve_device
from pinet.modality import (
    Modality,
    check_channels_and_size,
    input_ndim,
    layout,
    with_channel_axis,
)
from pinet.nets import PINet
from pinet.tda.inputs import as_images, as_signals, standardise

# Bundled models live in the repository's models/ folder; PINET_MODELS_DIR overrides it.
BUNDLED_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def network_inputs(batch: np.ndarray, modality: Modality) -> torch.Tensor:
    """`(N, C, T)` signals or `(N, C, H, W)` images as a float32 tensor for a PI-Net.

    Signals are z-scored per channel (population std; a constant channel becomes zeros): the
    `signal-sublevel` PI is invariant to a channel's offset and scale, so the network is
    spared learning that invariance. Images are scaled to [0, 1], as the recipes see them.
    Raises ValueError naming the problem for NaN/Inf, a wrong number of dimensions, an
    empty array or an image outside [0, 1].
    """
    if modality == "signal":
        values = standardise(as_signals(batch, batched=True))
    else:
        values = as_images(batch, batched=True)
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


class Backend(ABC):
    """One way of running a model: network inputs `(N, C, *S)` -> PIs `(N, C, 50, 50)`
    float32 in [0, 1], as numpy. `name`, `precision` and `device` say how, for the cards
    and the service's model list."""

    name: ClassVar[str]
    # The device types (torch.device.type) it runs on.
    device_types: ClassVar[frozenset[str]]

    @classmethod
    @abstractmethod
    def load(
        cls, checkpoint: Path, device: str, *, spinning: bool = True, seven_bit: bool | None = None
    ) -> tuple[Backend, ModelCard]:
        """The backend running the checkpoint in folder `checkpoint` on `device` (a name, as
        `pinet.device.resolve_device` takes it), and the card of what it runs. `spinning`:
        whether idle worker threads busy-wait for the next forward pass (onnxruntime's;
        torch's OpenMP pool keeps its own policy): faster back to back, a core burnt after
        each pass. `seven_bit`: whether an int8 graph's 7-bit twin runs in its place where
        the checkpoint has one (`ModelCard.seven_bit_runtime`; None: where this CPU's 8-bit
        sums can saturate, `pinet.device.int8_sums_saturate`)."""

    @classmethod
    def runs_on(cls, device: str) -> bool:
        """Whether it runs on `device` (a name); 'auto' means wherever it runs."""
        return device == "auto" or resolve_device(device).type in cls.device_types

    @property
    @abstractmethod
    def precision(self) -> str:
        """The arithmetic of a forward pass: 'float32', 'bfloat16', 'int8', ..."""

    @property
    @abstractmethod
    def device(self) -> torch.device:
        """Where the forward pass runs."""

    @abstractmethod
    def forward(self, inputs: torch.Tensor) -> np.ndarray:
        """PIs of a batch of network inputs (on any device)."""


class TorchBackend(Backend):
    """A PyTorch network in eval mode: bfloat16 autocast on CUDA, float32 on the CPU."""

    name: ClassVar[str] = "torch"
    device_types: ClassVar[frozenset[str]] = frozenset({"cpu", "cuda"})

    def __init__(self, network: PINet, device: torch.device) -> None:
        self.network = network
        self._device = device

    @classmethod
    def load(
        cls, checkpoint: Path, device: str, *, spinning: bool = True, seven_bit: bool | None = None
    ) -> tuple[TorchBackend, ModelCard]:
        resolved = resolve_device(device)
        network, card = load_checkpoint(checkpoint, resolved)
        return cls(network, resolved), card

    @property
    def precision(self) -> str:
        return precision(self._device)

    @property
    def device(self) -> torch.device:
        return self._device

    @torch.inference_mode()
    def forward(self, inputs: torch.Tensor) -> np.ndarray:
        with autocast(self._device):
            pis = self.network(inputs.to(self._device, non_blocking=True))
        return pis.float().clamp_(0.0, 1.0).cpu().numpy()


# The most inputs one onnxruntime run takes: a larger batch runs in slices. A graph's
# intermediate tensors grow with its batch (a density network's pairs by 330 kB per HAPT
# window), and slices that stay near the core's cache run faster per input: at batch 256,
# slices of 8 ran the bundled takens graph 1.2-1.7x faster per window than slices of 64,
# and the other int8 graphs the same within noise (docs/benchmarks.md, "Inference").
RUN_INPUTS = 8
# onnxruntime optimizers a session leaves out. QDQ propagation moves an int8 graph's
# quantization of a convolution's input up through the max-pool before it, which then runs
# on uint8 in NCHW layout, 3x slower than in float where no 8-bit convolution feeds it in
# NHWC (a density network's first block, float); without it, batches of 256 HAPT windows ran
# 4% faster per window through the bundled takens graph and 11-20% through density graphs
# (docs/benchmarks.md, "Inference"). The outputs are the same: a max commutes with rounding.
DISABLED_OPTIMIZERS = ["QDQPropagationTransformer"]


class OnnxRuntimeBackend(Backend):
    """The checkpoint's ONNX graph (`pinet export --format onnx`, float32 or int8) run by
    onnxruntime on the CPU, with as many threads as torch uses in the loading thread.

    `exact_sums`: run an int8 graph without onnxruntime's graph optimisations, each
    quantize-dequantize pair around a float operator instead of an 8-bit kernel: the sums a
    VNNI CPU computes exactly, on any CPU, slower. What an export measures its graphs with,
    so that a card's scores are its graph's and not the exporting CPU's."""

    name: ClassVar[str] = "onnxruntime"
    device_types: ClassVar[frozenset[str]] = frozenset({"cpu"})

    def __init__(
        self, graph: bytes, precision: str, *, spinning: bool = True, exact_sums: bool = False
    ) -> None:
        import onnxruntime

        # The most inputs one run takes; benchmarks/students.py --run-inputs sets others.
        self.run_inputs = RUN_INPUTS

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", str(int(spinning)))
        if exact_sums:
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        self._session = onnxruntime.InferenceSession(
            graph,
            options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=DISABLED_OPTIMIZERS,
        )
        self._input = self._session.get_inputs()[0].name
        self._precision = precision

    @classmethod
    def load(
        cls, checkpoint: Path, device: str, *, spinning: bool = True, seven_bit: bool | None = None
    ) -> tuple[OnnxRuntimeBackend, ModelCard]:
        if not cls.runs_on(device):
            raise ValueError(f"the onnxruntime backend runs on the CPU; {device} was asked for")
        card = read_card(checkpoint)
        if card.runtime is None or card.runtime.backend != cls.name:
            raise ValueError(
                f"{checkpoint} holds no ONNX graph for onnxruntime; make one with "
                "`pinet export --format onnx`"
            )
        if card.seven_bit_runtime is not None and (
            int8_sums_saturate() if seven_bit is None else seven_bit
        ):
            card = card.running(card.seven_bit_runtime)
        graph = runtime_file(checkpoint, card.runtime)
        return cls(graph, card.runtime.precision, spinning=spinning), card

    @property
    def precision(self) -> str:
        return self._precision

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    @property
    def spinning(self) -> bool:
        """Whether the session's idle threads busy-wait, as it was created."""
        entry = "session.intra_op.allow_spinning"
        return self._session.get_session_options().get_session_config_entry(entry) == "1"

    def forward(self, inputs: torch.Tensor) -> np.ndarray:
        """PIs of a batch, run `run_inputs` inputs at a time."""
        batch = inputs.detach().cpu().numpy()
        pis = [
            self._session.run(None, {self._input: batch[start : start + self.run_inputs]})[0]
            for start in range(0, len(batch), self.run_inputs)
        ]
        return np.clip(np.concatenate(pis), 0.0, 1.0)


# Backends by name: `load_model(..., backend=name)`.
BACKENDS: dict[str, type[Backend]] = {
    TorchBackend.name: TorchBackend,
    OnnxRuntimeBackend.name: OnnxRuntimeBackend,
}


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to predict: its card (what it expects) and the backend that runs it."""

    card: ModelCard
    backend: Backend

    @property
    def device(self) -> torch.device:
        return self.backend.device

    @property
    def runs_file(self) -> str:
        """The checkpoint file the backend runs: the card's runtime file (an ONNX graph),
        else the safetensors weights."""
        runtime = self.card.runtime
        if runtime is not None and runtime.backend == self.backend.name:
            return runtime.file
        return WEIGHTS_FILE

    def prepare(self, batch: np.ndarray) -> torch.Tensor:
        """Network inputs for a raw batch `(N, C, T)` / `(N, C, H, W)`, checked against the
        card first: ValueError naming the mismatch (dimensions, channels, size, values)."""
        check_against_card(batch, self.card)
        return network_inputs(batch, self.card.modality)

    def forward(self, inputs: torch.Tensor) -> np.ndarray:
        """`(N, C, 50, 50)` float32 PIs in [0, 1] of prepared network inputs."""
        return self.backend.forward(inputs)


def models_dir() -> Path:
    return Path(os.environ.get("PINET_MODELS_DIR", BUNDLED_MODELS_DIR))


def bundled_model_names() -> list[str]:
    """Names of the models in the models directory (folders holding a card.json)."""
    folder = models_dir()
    return sorted(p.parent.name for p in folder.glob("*/card.json")) if folder.is_dir() else []


def find_checkpoint(path_or_name: str | os.PathLike[str]) -> Path:
    """The checkpoint folder `path_or_name`, or the bundled model of that name."""
    path = Path(path_or_name)
    if (path / "card.json").is_file():
        return path
    named = models_dir() / str(path_or_name)
    if (named / "card.json").is_file():
        return named
    known = ", ".join(bundled_model_names()) or "none"
    raise FileNotFoundError(
        f"no checkpoint at {path} and no bundled model named {str(path_or_name)!r} "
        f"(bundled: {known})"
    )


def load_model(
    path_or_name: str | os.PathLike[str],
    device: str = "auto",
    backend: str | None = None,
    *,
    spinning: bool = True,
    seven_bit: bool | None = None,
) -> LoadedModel:
    """A checkpoint folder, or the name of a bundled model, loaded on `device` ('auto': CUDA
    when available, else CPU) to run on `backend` (one of BACKENDS; default: the runtime
    its card names where that runs on the device, else torch: a CPU-only ONNX export runs
    its torch weights on CUDA), its idle threads `spinning` or not, an int8 graph's 7-bit
    twin in its place or not (`seven_bit`; None: where this CPU's 8-bit sums saturate; see
    `Backend.load`). The loaded card describes what runs."""
    checkpoint = find_checkpoint(path_or_name)
    if backend is None:
        backend = default_backend(read_card(checkpoint), device)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(sorted(BACKENDS))}")
    runner, card = BACKENDS[backend].load(
        checkpoint, device, spinning=spinning, seven_bit=seven_bit
    )
    return LoadedModel(card, runner)


def default_backend(card: ModelCard, device: str) -> str:
    """The backend a checkpoint runs on `device` unless told otherwise: the runtime its card
    names (an export's graph) where that runs there ('auto': wherever it runs), else torch."""
    runtime = card.runtime
    if runtime is None:
        return TorchBackend.name
    runner = BACKENDS.get(runtime.backend)
    if runner is None or runner.runs_on(device):
        return runtime.backend  # an unknown one is refused by name in load_model
    return TorchBackend.name


def predict(model: LoadedModel, x: np.ndarray) -> np.ndarray:
    """`(C, 50, 50)` float32 PIs for one input `(C, T)` / `(C, H, W)`, or `(N, C, 50, 50)`
    for a batch; inputs are checked against the model card first. An input of one dimension
    fewer, `(T,)` / `(H, W)`, is one channel, as the recipes read it."""
    x = with_channel_axis(np.asarray(x), model.card.modality)
    single = x.ndim == input_ndim(model.card.modality)
    batch = x[None] if single else x
    pis = model.forward(model.prepare(batch))
    return pis[0] if single else pis


def check_against_card(batch: np.ndarray, card: ModelCard) -> None:
    """ValueError naming the mismatch when a raw batch does not fit the model's card."""
    modality = card.modality
    if np.ndim(batch) != input_ndim(modality, batched=True):
        raise ValueError(
            f"model {card.name!r} takes {'an image' if modality == 'image' else 'a signal'} "
            f"{layout(modality)} or a batch of them; got an array of shape {np.shape(batch)}"
        )
    check_channels_and_size(
        batch.shape,
        modality,
        channels=card.in_channels,
        per_channel=card.per_channel,
        min_size=card.min_input_size,
        taker=f"model {card.name!r}",
    )
