"""What pruning and widening share: a network's weights with some filters of each block
selected (dropped, kept or repeated), and the checkpoint a resized network is saved as (its
card, and the options that fine-tune it)."""

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
# save and provenance describe other weights (and `save_checkpoint` names no runtime file
# it does not write).
_NOT_INHERITED = {
    "metrics",
    "source_metrics",
    "checkpoint_id",
    "created",
    "library_versions",
}


def selected_state(
    network: PINet,
    filters: list[torch.Tensor],
    input_scales: list[torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """`network`'s state_dict (on the CPU) whose block i holds the filters `filters[i]`, in
    that order (an index may repeat): the rows of its conv and BatchNorm tensors, and the
    input channels that read them, of the next conv or, after the last block (after every
    block, for a trunk that pools each one), columns of the head's Linear that reads the
    trunk (two per filter where the trunk pools maxima beside averages). Those inputs are
    multiplied by `input_scales[i]` (one per selected filter) where given. The rest of the
    head is unchanged.

    Pruning selects the filters it keeps; widening repeats filters and scales each copy's
    readers by 1 / its number of copies, so that the copies together compute what one did.
    """
    state = {name: tensor.detach().cpu() for name, tensor in network.state_dict().items()}
    scales = input_scales or [torch.ones(len(selected)) for selected in filters]
    offsets = network.trunk.feature_offsets()
    # Per pooling (each block's average, then its maximum), the head's columns that read
    # the selected filters, and their scales: the trunk's features are in that order.
    head_columns: list[list[tuple[torch.Tensor, torch.Tensor]]] = [[], []]
    for i, selected in enumerate(filters):
        block = f"trunk.blocks.{i}."
        for name in PER_FILTER:
            state[block + name] = state[block + name][selected]
        if i > 0:
            weight = state[block + "conv.weight"][:, filters[i - 1]]
            state[block + "conv.weight"] = weight * scales[i - 1].view(
                1, -1, *[1] * (weight.ndim - 2)
            )
        for pooling, offset in enumerate(offsets[i]):
            head_columns[pooling].append((selected + offset, scales[i]))
    columns, column_scales = zip(*head_columns[0], *head_columns[1], strict=True)
    head_input = f"{network.head_input}.weight"
    state[head_input] = state[head_input][:, torch.cat(columns)] * torch.cat(column_scales)
    return state


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
    is the checkpoint itself, and a network whose normalisation a resize would change."""
    source = find_checkpoint(checkpoint)
    if Path(out).resolve() == source.resolve():
        raise ValueError(f"{out} is the checkpoint being resized; write to another folder")
    network, card = load_checkpoint(source)
    if network.trunk.norm != "batch":
        raise ValueError(
            f"{checkpoint} normalises its blocks by groups of filters (--norm "
            f"{network.trunk.norm}), which another width regroups: only BatchNorm trunks, "
            "whose filters are normalised one by one, are resized"
        )
    return network, card


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
    # Given above, or chosen at export.
    shared = {"widths", "head", "average_reversed", "average_resampled"}
    for key, value in network.architecture.items():
        if key not in shared:
            flag = "--" + key.replace("_", "-")
            if value is True:  # a switch
                options.append(flag)
            elif isinstance(value, list):  # comma-separated, after "=": it may start with "-"
                options.append(f"{flag}={','.join(map(str, value))}")
            else:
                options.append(f"{flag} {value}")
    return " ".join(options + (["--per-channel"] if network.per_channel else []))
