"""Training PI-Nets on ground-truth stores: configuration (`config`), data (`data`), what is
minimised (`losses`), the loop (`loop`), evaluation (`evaluate`), a run's folder and its
resumption (`run_state`) and its pictures (`plots`)."""

from pinet.train.config import TrainConfig
from pinet.train.evaluate import evaluate_checkpoint, evaluate_on_store
from pinet.train.loop import train
from pinet.train.losses import MeanSquaredError, Objective

__all__ = [
    "MeanSquaredError",
    "Objective",
    "TrainConfig",
    "evaluate_checkpoint",
    "evaluate_on_store",
    "train",
]
