"""What pruning and widening share: the per-filter tensors of a conv block, and the checkpoint
a resized network is saved as (its card, and the options that fine-tune it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from pinet.card import ModelCard
from pinet.checkpoint import load_checkpoint, save_checkpoint
from pinet.inference import find_checkpoint
from pinet.nets import DEFAULT_FAMILY, PINet, Widths, build_network

# A block's tensors with one entry (row) per filter, named as in its state_dict.
PER_FILTER = (
    "conv.weight",
    "conv.bias",
    "bn.weight",
    "bn.bias",
    "bn.running_mean",
    "bn.running_var",
)
# What a resized checkpoint's card does not inherit from its source's: the source's scores,
# runtime file, save and provenance describe other weights.
_NOT_INHERITED = {
    "metrics",
    "source_metrics",
    "runtime",
    "checkpoint_id",
    "created",
    "library_versions",
}


def with_widths(network: PINet, widths: Widths, state: dict[str, torch.Tensor]) -> PINet:
    """A network of `network`'s family and options but `widths`, holding `state`, on
    `network`'s device and in its mode."""
    resized = build_network(
        network.modality,
        network.in_channels,
        family=network.family,
        per_channel=network.per_channel,
        **(network.architecture | {"widths": tuple(widths)}),
    )
    resized.load_state_dict(state)
    return resized.to(next(network.parameters()).device).train(network.training)


def load_source(
    checkpoint: str | os.PathLike[str], out: str | os.PathLike[str]
) -> tuple[PINet, ModelCard]:
    """The network and card of `checkpoint` (folder or bundled name), refusing an `out` that
    is the checkpoint itself."""
    source = find_checkpoint(checkpoint)
    if Path(out).resolve() == source.resolve():
        raise ValueError(f"{out} is the checkpoint being resized; write to another folder")
    return load_checkpoint(source)


def save_resized(
    source: PINet,
    resized: PINet,
    source_card: ModelCard,
    out: str | os.PathLike[str],
    *,
    step: str,
    details: dict[str, Any],
    name: str,
) -> dict[str, Any]:
    """Save `resized`, made from `source`, to `out` under `name`; return what was done (the
    record below) with the checkpoint and its fine-tuning options.

    The card keeps the source's input contract, recipe and data source; its metrics are
    dropped (they scored other weights) and its `training` records, under `step`
    ("pruning", "widening"), the source's name and checkpoint id, the step's `details`, and
    the widths and parameters before and after, beside the source's own training record.
    Saved as float32, for torch: export it again for ONNX.
    """
    record = {
        "source": source_card.name,
        "source_checkpoint_id": source_card.checkpoint_id,
        **details,
        "widths_before": list(source.widths),
        "widths_after": list(resized.widths),
        "parameters_before": source.parameter_count,
        "parameters_after": resized.parameter_count,
    }
    card = ModelCard.model_validate(
        source_card.model_dump(exclude=_NOT_INHERITED)
        | {
            "name": name,
            "architecture": resized.architecture,
            "training": {step: record, "source_training": source_card.training},
        }
    )
    save_checkpoint(resized, card, out)
    return {"checkpoint": str(out), **record, "fine_tune_options": fine_tune_options(resized, out)}


def fine_tune_options(network: PINet, checkpoint: str | os.PathLike[str]) -> str:
    """The `pinet train` / `pinet distill` options that start from `checkpoint`, holding
    `network`: `--init` needs the same family, widths, head, per-channel setting and the
    family's other options (a lowrank head's `--rank`)."""
    options = [f"--init {checkpoint}"]
    if network.family != DEFAULT_FAMILY:
        options.append(f"--family {network.family}")
    options += [f"--widths {','.join(map(str, network.widths))}", f"--head {network.head}"]
    shared = {"widths", "head", "average_reversed"}  # given above, or chosen at export
    for key, value in network.architecture.items():
        if key not in shared:
            flag = "--" + key.replace("_", "-")
            options.append(flag if value is True else f"{flag} {value}")  # True: a switch
    return " ".join(options + (["--per-channel"] if network.per_channel else []))
