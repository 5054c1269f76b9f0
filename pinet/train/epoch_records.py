"""What each epoch of a training run leaves behind: its validation, its entry in the run's
history, and, written by rank 0 alone, `best/` and the epoch's resumable state
(`pinet.train.run_state`)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pinet.card import ModelCard
from pinet.checkpoint import save_checkpoint
from pinet.inference import LoadedModel
from pinet.train.config import TrainConfig
from pinet.train.data import Samples
from pinet.train.distributed import Cluster
from pinet.train.evaluate import evaluate
from pinet.train.run_state import RunState, save_epoch


@dataclass
class EpochRecords:
    """What each epoch of a run leaves: rank 0 validates the kept network, every process
    appends the same entry to the history, and rank 0, the one writer of the run's folder,
    saves `best/` when validation improved and the epoch's resumable state."""

    out: Path
    config: TrainConfig
    cluster: Cluster
    state: RunState
    evaluated: LoadedModel
    val_sets: Sequence[Samples]
    val_labels: Sequence[str]
    card_after: Callable[[int, dict[str, float]], ModelCard]
    progress: bool

    @property
    def best(self) -> float:
        """The lowest validation MSE of the epochs recorded so far (inf before the first)."""
        return min((h["val_mse"] for h in self.state.history), default=math.inf)

    def close(self, epoch: int, lr: float, train_mse: float, started: float) -> None:
        """Record `epoch` (0-based), trained at `lr` to `train_mse` from `started`
        (`time.perf_counter`)."""
        state = self.state
        state.kept.eval()
        # Rank 0 validates; the others wait for its metrics, then go on to the next epoch.
        val = self.cluster.from_main(
            validate(self.evaluated, self.val_sets, self.val_labels)
            if self.cluster.is_main
            else None
        )
        entry = {
            "epoch": epoch + 1,
            "lr": lr,
            "train_mse": train_mse,
            **val,
            "seconds": round(time.perf_counter() - started, 2),
        }
        improved = val["val_mse"] < self.best
        state.history.append(entry)
        card = self.card_after(epoch + 1, {"val_mse": val["val_mse"], "val_mae": val["val_mae"]})
        if self.cluster.is_main:
            if improved:
                save_checkpoint(state.kept, card, self.out / "best")
            save_epoch(
                self.out,
                state.model,
                state.optimiser,
                card,
                state.history,
                self.config,
                state.averaged,
            )
        if self.progress:
            tqdm.write(json.dumps(entry))


def validate(
    model: LoadedModel, val_sets: Sequence[Samples], labels: Sequence[str]
) -> dict[str, Any]:
    """Validation MSE and MAE over every store's held-out groups (each sample counting once),
    and, for a mixture, the MSE on each store (`val_mse_by_store`)."""
    results = [evaluate(model, val_set) for val_set in val_sets]
    counts = np.array([r["samples"] for r in results], dtype=np.float64)
    metrics: dict[str, Any] = {
        "val_mse": float(np.dot(counts, [r["mse"] for r in results]) / counts.sum()),
        "val_mae": float(np.dot(counts, [r["mae"] for r in results]) / counts.sum()),
    }
    if len(results) > 1:
        metrics["val_mse_by_store"] = {
            label: r["mse"] for label, r in zip(labels, results, strict=True)
        }
    return metrics
