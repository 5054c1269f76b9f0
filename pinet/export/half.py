"""Float16 export: a checkpoint written as bundled models ship, with the test metrics of
exactly those weights in its card."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from pinet.checkpoint import load_checkpoint, save_checkpoint
from pinet.device import resolve_device
from pinet.export.measure import measured_card
from pinet.inference import LoadedModel, TorchBackend, find_checkpoint
from pinet.train.evaluate import evaluate_by_source, evaluate_on_store


def export_float16(
    checkpoint: str | Path,
    out: str | Path,
    store_path: str | Path,
    reference: str | Path | None = None,
    device: str = "auto",
    average_reversed: bool = False,
    sources: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Write `checkpoint` to `out` with float16 weights, and a card whose metrics add the
    test split of `store_path` (and, for image-raster models, the authors' samples at
    `reference`), measured on those float16 weights. With `average_reversed`, the exported
    model averages its predictions for each input and for the input reversed (see
    `pinet.nets.base`). The card also records the test metrics on each store of `sources`
    (`evaluate_by_source`). Returns the full evaluation."""
    resolved = resolve_device(device)
    network, card = load_checkpoint(find_checkpoint(checkpoint), resolved)
    network.average_reversed = network.average_reversed or average_reversed
    with torch.no_grad():  # the weights as float16 stores them, so the metrics are theirs
        for tensor in network.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half())
    card = card.model_copy(update={"architecture": network.architecture})
    loaded = LoadedModel(card, TorchBackend(network, resolved))
    evaluation = evaluate_on_store(loaded, store_path, "test", reference)
    by_source = evaluate_by_source(loaded, sources) if sources else None
    card = measured_card(card, evaluation, store_path, by_source)
    save_checkpoint(network, card, out, dtype=torch.float16)
    return evaluation
