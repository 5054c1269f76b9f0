"""What a training run's card records: the network, the stores it trained on (their source,
or every component of a mixture, and the ranges of channels and sizes it saw, crops
included), the config and objective, the processes that trained it, and its metrics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pinet.card import DataSourceRef, ModelCard, RecipeRef, TrainingRanges
from pinet.nets import PINet
from pinet.store import GroundTruthStore
from pinet.train.config import TrainConfig
from pinet.train.distributed import Cluster
from pinet.train.losses import Objective
from pinet.train.run_state import jsonable


@dataclass(frozen=True)
class TrainedOn:
    """The stores a model is trained on, and what its card records of them."""

    stores: Sequence[GroundTruthStore]
    mixture: list[dict[str, Any]]  # `describe_mixture`
    smallest_crop: int = 0  # `--crop-min-size`: crops reach down to it; 0, none

    def data_source(self) -> DataSourceRef:
        """The source of a single store; for a mixture, every component's."""
        if len(self.stores) == 1:
            return DataSourceRef(**self.stores[0].job["source"])
        return DataSourceRef(name="mixture", params={"components": self.mixture})

    def ranges(self) -> TrainingRanges:
        """The channel counts and lengths or sides of the training inputs, crops included."""
        shapes = [tuple(store.attrs["input_shape"]) for store in self.stores]
        smallest = min(min(s[1:]) for s in shapes)
        if self.smallest_crop:
            smallest = min(smallest, self.smallest_crop)
        return TrainingRanges(
            channels=(min(s[0] for s in shapes), max(s[0] for s in shapes)),
            sizes=(smallest, max(max(s[1:]) for s in shapes)),
        )


def run_card(
    model: PINet,
    trained_on: TrainedOn,
    config: TrainConfig,
    objective: Objective,
    metrics: dict[str, float],
    epochs_done: int,
    cluster: Cluster,
    init_checkpoint_id: str | None = None,
) -> ModelCard:
    """The card of `model` after `epochs_done` epochs on `trained_on`: what it is, what it
    was trained on and how (config, objective, the processes that trained it, and with
    `--init` the id of the checkpoint it started from), and its validation metrics."""
    first = trained_on.stores[0]
    training = {
        **asdict(config),
        "objective": objective.describe(),
        "epochs_done": epochs_done,
        "distributed": cluster.describe(),
        "stores": [str(store.path) for store in trained_on.stores],
        "train_samples": sum(part["train_samples"] for part in trained_on.mixture),
    }
    if init_checkpoint_id is not None:
        training["init_checkpoint_id"] = init_checkpoint_id
    return ModelCard.describing(
        model,
        name=config.name,
        input_shape=tuple(first.attrs["input_shape"]),
        recipe=RecipeRef(**first.job["recipe"]),
        data_source=trained_on.data_source(),
        training_ranges=trained_on.ranges(),
        metrics=metrics,
        training=jsonable(training),
    )
