"""The fine-tuned row's model: the classification loss trains PI-Net, whose BatchNorm
statistics stay those of its own training data."""

from __future__ import annotations

import numpy as np
import torch

from experiments.classify import Schedule, fit, seeded
from experiments.differentiable import FINE_TUNE_LR_FACTOR, PINetFused, fresh_pinet
from experiments.har import fused_cnn
from experiments.representations import Scaler
from pinet.inference import network_inputs


def test_the_classification_loss_trains_pinet_but_not_its_batchnorm_statistics() -> None:
    generator = seeded(0, threads=1)
    windows = torch.randn(6, 3, 250)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    scaler = Scaler(np.array(0.01), np.array(0.05))
    model = PINetFused(fused_cnn(3, 3, cnn_width=4, pi_width=4), fresh_pinet(), scaler)
    pinet_before = {k: v.clone() for k, v in model.pinet.state_dict().items()}
    inputs = (windows, network_inputs(windows.numpy(), "signal"))
    with torch.no_grad():
        model.eval()
        expected = model.fused(windows, (model.pinet(inputs[1]) - 0.01) / 0.05)
        assert torch.equal(model(*inputs), expected)

    groups = model.parameter_groups(lr=1e-3)
    assert [group.get("lr") for group in groups] == [None, 1e-3 * FINE_TUNE_LR_FACTOR]
    fit(model, inputs, labels, Schedule(epochs=1, batch_size=6), generator, groups=groups)

    after = model.pinet.state_dict()
    assert not torch.equal(after["dense.weight"], pinet_before["dense.weight"])
    running = [k for k in after if k.endswith(("running_mean", "running_var"))]
    assert running
    assert all(torch.equal(after[k], pinet_before[k]) for k in running)
