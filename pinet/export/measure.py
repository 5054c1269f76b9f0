"""What an exported checkpoint's card records: its name and architecture as exported, and
the test split it was measured on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pinet.card import SAFE_NAME, ModelCard

# What a bundled model's card records of its test-split evaluation, as test_<metric>.
EXPORTED_TEST_METRICS = ("mse", "mae", "mean_pi_mse", "mse_vs_mean_pi")


def measured_card(
    card: ModelCard,
    evaluation: dict[str, Any],
    store_path: str | Path,
    by_source: dict[str, dict[str, float]] | None = None,
    **exported: Any,
) -> ModelCard:
    """`card` with the test metrics of `evaluation` (`pinet.train.evaluate_on_store`, on the
    weights as exported), the test store, the metrics on each source measured (`by_source`,
    `pinet.train.evaluate_by_source`), and how the export was made (`exported`)."""
    measured = exported_metrics(evaluation)
    training = {**card.training, "test_store": str(store_path)}
    if exported:
        training["export"] = exported
    update = {"metrics": {**card.metrics, **measured}, "training": training}
    if by_source is not None:
        update["source_metrics"] = by_source
    return card.model_copy(update=update)


def exported_metrics(evaluation: dict[str, Any]) -> dict[str, float]:
    """What a card records of a test-split evaluation (`pinet.train.evaluate_on_store`):
    test_<metric> for EXPORTED_TEST_METRICS, and reference_mse / reference_mean_pi_mse on
    the reference samples where measured."""
    measured = {f"test_{key}": evaluation[key] for key in EXPORTED_TEST_METRICS}
    if "reference" in evaluation:
        measured |= {
            f"reference_{key}": evaluation["reference"][key] for key in ("mse", "mean_pi_mse")
        }
    return measured


def exported_card(card: ModelCard, architecture: dict[str, Any], name: str | None) -> ModelCard:
    """`card` with the architecture the export writes, renamed to `name` when one is given:
    ValueError for a name that is not one path component of letters, digits, '.', '_', '-'."""
    if name is not None and not re.fullmatch(SAFE_NAME, name):
        raise ValueError(
            f"model name {name!r}: use letters, digits, '.', '_' and '-', starting with a "
            "letter or digit (it names the model's folder in a models directory)"
        )
    return card.model_copy(update={"architecture": architecture, "name": name or card.name})
