"""A training run's folder: a checkpoint and the full training state every epoch, `last`
pointing at the newest complete one, and resumption from it bit for bit; `RunState`, what
the loop goes on from.

    out/epoch-NNNN/  model.safetensors, card.json (a checkpoint), optimiser.safetensors,
                     state.json (history, config, optimiser layout)
    out/last         the name of the newest complete epoch folder
    out/best/        the checkpoint of the best validation MSE so far
    out/metrics.jsonl one line per epoch

No pickles: the optimiser state is stored as named tensors plus a JSON layout.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch.optim.swa_utils import AveragedModel

from pinet.atomic import write_atomically, write_text_atomically
from pinet.card import DataSourceRef, ModelCard, network_fields
from pinet.checkpoint import load_checkpoint, save_checkpoint
from pinet.inference import find_checkpoint
from pinet.nets import PINet
from pinet.train.config import EXECUTION_ONLY, TrainConfig

LAST = "last"  # file naming the newest complete epoch checkpoint
AVERAGED = "averaged.safetensors"  # an epoch's average of the weights (--weight-average)
# What runs made before an option existed computed, where its default computes otherwise.
_BEFORE_ADDED = {"bn_samples": 0, "frozen_batch_norm": False}


@dataclass(frozen=True)
class RunState:
    """Where a run's epochs go on from: its network, the average of its weights (if it keeps
    one), its optimiser, the epochs it has done, and the checkpoint it started from."""

    model: PINet
    averaged: AveragedModel | None
    optimiser: torch.optim.Optimizer
    history: list[dict[str, Any]]
    init_checkpoint_id: str | None

    @property
    def kept(self) -> PINet:
        """The network validated, saved as best/ and exported: the weights, or their average."""
        return self.model if self.averaged is None else self.averaged.module


def has_run(out: Path) -> bool:
    """Whether `out` holds at least one completed epoch."""
    return (out / LAST).exists()


def save_epoch(
    out: Path,
    model: PINet,
    optimiser: torch.optim.Optimizer,
    card: ModelCard,
    history: list[dict[str, Any]],
    config: TrainConfig,
    averaged: AveragedModel | None = None,
) -> None:
    """Write epoch N's full state into its own folder (with `averaged`, the weights'
    average too), then point `last` at it (atomic)."""
    folder = out / f"epoch-{len(history):04d}"
    save_checkpoint(model, card, folder)
    tensors, layout = _flatten_optimiser(optimiser)
    state = {"history": history, "config": asdict(config), "optimiser_layout": layout}
    files = {
        folder / "optimiser.safetensors": save(tensors),
        folder / "state.json": json.dumps(state, indent=1).encode(),
    }
    if averaged is not None:
        files[folder / AVERAGED] = save(
            {name: t.detach().cpu().contiguous() for name, t in averaged.state_dict().items()}
        )
    write_atomically(files)
    write_text_atomically(out / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
    previous = (out / LAST).read_text().strip() if has_run(out) else None
    write_text_atomically(out / LAST, folder.name + "\n")
    if previous and previous != folder.name:
        shutil.rmtree(out / previous, ignore_errors=True)


def restore(
    out: Path,
    model: PINet,
    optimiser: torch.optim.Optimizer,
    config: TrainConfig,
    data_source: DataSourceRef,
    averaged: AveragedModel | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Load the newest complete epoch of `out` into `model` and `optimiser`; its history and
    the id of the checkpoint the run started from (`start_from`; None if none). Refuses a
    configuration that would compute something else (`EXECUTION_ONLY` may differ), and data
    from other sources or another mixture."""
    if not has_run(out):
        raise ValueError(f"nothing to resume in {out}: no completed epoch")
    folder = out / (out / LAST).read_text().strip()
    state = json.loads((folder / "state.json").read_text())
    # Options added since a run began take the values it ran with: their defaults, but for
    # those whose default changed what a run computes (`_BEFORE_ADDED`).
    recorded = jsonable(asdict(TrainConfig())) | _BEFORE_ADDED | state["config"]
    saved = {k: v for k, v in recorded.items() if k not in EXECUTION_ONLY}
    wanted = {k: v for k, v in jsonable(asdict(config)).items() if k not in EXECUTION_ONLY}
    if saved != wanted:
        changed = sorted(k for k in wanted if saved.get(k) != wanted[k])
        raise ValueError(
            f"cannot resume {out} with a different configuration ({', '.join(changed)})"
        )
    trained, card = load_checkpoint(folder)
    if card.data_source != data_source:
        raise ValueError(
            f"cannot resume {out} on other data: it was trained on {card.data_source.name} "
            f"{card.data_source.params}"
        )
    model.load_state_dict(trained.state_dict())
    device = next(model.parameters()).device
    tensors = load_file(folder / "optimiser.safetensors", device=str(device))
    optimiser.load_state_dict(_unflatten_optimiser(tensors, state["optimiser_layout"]))
    if averaged is not None:
        averaged.load_state_dict(load_file(folder / AVERAGED, device=str(device)))
    return state["history"], card.training.get("init_checkpoint_id")


def _flatten_optimiser(optimiser: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimiser state as named tensors (safetensors) plus a JSON layout: no pickles."""
    state_dict = optimiser.state_dict()
    tensors, scalars = {}, {}
    for param_id, values in state_dict["state"].items():
        for key, value in values.items():
            name = f"{param_id}.{key}"
            if torch.is_tensor(value):
                tensors[name] = value.detach().cpu().contiguous()
            else:
                scalars[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimiser(tensors: dict[str, torch.Tensor], layout: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for name, value in [*tensors.items(), *layout["scalars"].items()]:
        param_id, key = name.split(".", 1)
        state.setdefault(int(param_id), {})[key] = value
    return {"state": state, "param_groups": layout["param_groups"]}


def jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON types only (tuples become lists), as model cards and state files hold."""
    return json.loads(json.dumps(values))


def start_from(model: PINet, checkpoint: str) -> str:
    """Copy `checkpoint`'s weights into `model`, whose architecture must be the checkpoint's
    (`average_reversed` and `average_resampled` aside: they change what a forward computes,
    not the weights, and are set again at export), or the checkpoint's with pooled maxima
    added: their head columns start at zero, so `model` computes what the checkpoint did.
    Returns the checkpoint's id, which names those weights after a bundled name has come to
    mean others."""
    trained, card = load_checkpoint(find_checkpoint(checkpoint))
    ours = network_fields(model) | {"min_input_size": model.min_input_size}
    theirs = network_fields(trained) | {"min_input_size": trained.min_input_size}
    adds_maxima = model.trunk.pooled_maxima and not trained.trunk.pooled_maxima
    for fields in (ours, theirs):
        fields["architecture"].pop("average_reversed", None)
        fields["architecture"].pop("average_resampled", None)
        if adds_maxima:
            fields["architecture"].pop("pooled_maxima", None)
    if ours != theirs:
        differing = sorted(k for k in ours if ours[k] != theirs[k])
        raise ValueError(
            f"--init {checkpoint}: its network ({card.name}) differs in "
            f"{', '.join(differing)}: {', '.join(f'{theirs[k]}' for k in differing)}; "
            "give the same --family, --widths, --head, --rank, --delay-embedding, "
            "--recurrence-radii, --recurrence-stride, --recurrence-gap, --value-bins, "
            "--value-range, --multiscale-pool, --pooled-maxima, --norm and --per-channel"
        )
    state = trained.state_dict()
    if adds_maxima:
        head = f"{trained.head_input}.weight"
        state[head] = torch.cat([state[head], torch.zeros_like(state[head])], dim=1)
    model.load_state_dict(state)
    return card.checkpoint_id
