"""An exponential moving average of a network's weights over the steps of training
(Polyak averaging): what `--weight-average DECAY` validates, saves and exports instead of
the weights the optimiser steps.

The optimiser's weights jitter from step to step around where the loss is low; their
average over the last few thousand steps sits nearer the middle, and often generalises
better, at no cost in inference. BatchNorm's running statistics are averaged alongside
(and recomputed before each validation, as for every run, when `--bn-samples` is set).
"""

from __future__ import annotations

from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from pinet.nets import PINet


def averaged_weights(model: PINet, decay: float) -> AveragedModel | None:
    """A copy of `model` that `update_parameters(model)` moves towards `model` by
    `1 - decay` after each step (the first update copies it); None when `decay` is 0."""
    if not decay:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
