"""How raw inputs become network inputs, the same in training and in prediction.

Signals are z-scored per channel (population std; a constant channel becomes zeros): the
`signal-sublevel` PI is invariant to a channel's offset and scale, so the network is spared
learning that invariance. Images are scaled to [0, 1], as the recipes see them.
"""

from __future__ import annotations

import numpy as np
import torch

from pinet.tda.inputs import as_images, as_signals, standardise


def network_inputs(batch: np.ndarray, modality: str) -> torch.Tensor:
    """`(N, C, T)` signals or `(N, C, H, W)` images as a float32 tensor for a PI-Net.

    Raises ValueError naming the problem for NaN/Inf, a wrong number of dimensions, an
    empty array or an image outside [0, 1].
    """
    if modality == "signal":
        values = standardise(as_signals(batch, batched=True))
    elif modality == "image":
        values = as_images(batch, batched=True)
    else:
        raise ValueError(f"unknown modality {modality!r}; expected 'signal' or 'image'")
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
