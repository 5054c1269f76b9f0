"""Pictures of a training run: its loss curves and a few validation predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pinet.inference import LoadedModel
from pinet.train.data import StoreSamples
from pinet.train.evaluate import predict_batches


def plot_run(
    out: Path,
    history: list[dict[str, Any]],
    model: LoadedModel,
    val_set: StoreSamples,
    n_examples: int = 4,
) -> None:
    """loss.png (train / validation MSE per epoch) and predictions.png (fixed validation
    samples: ground truth above, prediction below, one column per channel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.semilogy(epochs, [h["train_mse"] for h in history], label="train")
    axis.semilogy(epochs, [h["val_mse"] for h in history], label="validation")
    axis.set(xlabel="epoch", ylabel="MSE", title="PI-Net training")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "loss.png", dpi=100)
    plt.close(figure)

    examples = StoreSamples(val_set.store, val_set.indices[:n_examples], val_set.modality)
    predicted, expected = predict_batches(model, examples)
    channels = expected.shape[1]
    figure, axes = plt.subplots(
        2 * len(expected), channels, squeeze=False, figsize=(2 * channels, 4 * len(expected))
    )
    for i in range(len(expected)):
        for c in range(channels):
            for row, (label, images) in enumerate((("truth", expected), ("PI-Net", predicted))):
                axis = axes[2 * i + row, c]
                axis.imshow(images[i, c], cmap="viridis", vmin=0, vmax=1)
                axis.set_title(f"{examples.indices[i]} ch{c} {label}", fontsize=7)
                axis.axis("off")
    figure.tight_layout()
    figure.savefig(out / "predictions.png", dpi=80)
    plt.close(figure)
