"""Filter pruning: exact on what it removes, an ordinary checkpoint afterwards, fine-tunable
with `pinet train --init`, and refusals the CLI reports without a traceback."""

from __future__ import annotations

import copy
import json
import math
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import torch

from pinet.card import DataSourceRef, ModelCard, RecipeRef
from pinet.checkpoint import load_checkpoint, read_card, save_checkpoint
from pinet.cli import EXIT_USAGE, build_parser, main
from pinet.inference import load_model
from pinet.nets import PINet, build_network
from pinet.resize import filters_to_keep, prune_checkpoint, prune_network, pruned_widths
from pinet.resize.resized import fine_tune_options
from tests.helpers import TINY_WIDTHS, TrainedRun
from tests.resize.networks import (
    INPUT_SHAPES,
    NETWORKS,
    TRUNKS,
    fine_tune_for_an_epoch,
    scrambled_network,
)


def silenced(network: PINet, kept: list[torch.Tensor]) -> PINet:
    """A copy of `network` whose filters not in `kept` have BatchNorm scale and shift 0: their
    ReLU outputs are zero, so nothing downstream sees them."""
    copied = copy.deepcopy(network)
    with torch.no_grad():
        for block, filters in zip(copied.trunk.blocks, kept, strict=True):
            dropped = torch.ones(block.bn.weight.shape[0], dtype=torch.bool)
            dropped[filters] = False
            block.bn.weight[dropped] = 0.0
            block.bn.bias[dropped] = 0.0
    return copied


@pytest.mark.parametrize("modality, family", NETWORKS)
def test_keeping_every_filter_changes_nothing(modality: str, family: str) -> None:
    network = scrambled_network(modality, per_channel=False, family=family)
    pruned = prune_network(network, pruned_widths(network.widths, 1.0))
    x = torch.randn(INPUT_SHAPES[modality])
    assert pruned.widths == network.widths
    assert torch.equal(pruned(x), network(x))


@pytest.mark.parametrize("trunk_options", TRUNKS)
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("modality, family", NETWORKS)
def test_pruning_equals_silencing_the_dropped_filters(
    modality: str, family: str, per_channel: bool, trunk_options: dict[str, Any]
) -> None:
    network = scrambled_network(modality, per_channel, family, **trunk_options)
    widths = pruned_widths(network.widths, 0.5)
    kept = filters_to_keep(network, widths)
    assert any(not torch.equal(f, torch.arange(len(f))) for f in kept)  # not just a prefix
    pruned = prune_network(network, widths)
    x = torch.randn(INPUT_SHAPES[modality])
    with torch.no_grad():
        expected, got = silenced(network, kept)(x), pruned(x)
        assert not torch.allclose(network(x), expected)  # the dropped filters mattered
    assert pruned.widths == widths == (2, 4, 4, 8)
    assert (pruned.family, pruned.per_channel) == (network.family, per_channel)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("keep, expected", [(0.3, (2, 3, 3, 5)), (0.01, (1, 1, 1, 1))])
def test_each_block_keeps_the_ceiling_of_its_share(keep: float, expected: tuple) -> None:
    assert pruned_widths(TINY_WIDTHS, keep) == expected


@pytest.fixture(params=["signal_run", "image_run"])
def trained_run(request: pytest.FixtureRequest) -> TrainedRun:
    return request.getfixturevalue(request.param)


def test_a_pruned_checkpoint_loads_from_its_card(trained_run: TrainedRun, tmp_path: Path) -> None:
    source = trained_run.out / "best"
    result = prune_checkpoint(source, tmp_path / "pruned", keep=0.5)
    network, source_card = load_checkpoint(source)
    in_memory = prune_network(network, (2, 4, 4, 8))
    loaded = load_model(tmp_path / "pruned", "cpu")
    x = torch.rand(INPUT_SHAPES[source_card.modality])
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(loaded.forward(x)), in_memory(x))
    card = read_card(tmp_path / "pruned")
    assert card.architecture["widths"] == [2, 4, 4, 8] == result["widths_after"]
    assert (card.recipe, card.input_shape) == (source_card.recipe, source_card.input_shape)
    assert card.metrics == {}  # the source's scored other weights
    assert card.training["pruning"] == {
        "source": source_card.name,
        "source_checkpoint_id": source_card.checkpoint_id,
        "keep": 0.5,
        "criterion": "l1-of-bn-folded-filter",
        "widths_before": list(TINY_WIDTHS),
        "widths_after": [2, 4, 4, 8],
        "parameters_before": result["parameters_before"],
        "parameters_after": result["parameters_after"],
    }
    assert card.training["source_training"] == source_card.training


def test_the_printed_options_give_back_every_trunk_option_the_training_cli_reads() -> None:
    """Options holding lists (a delay embedding, radii, a value range starting with a minus)
    are printed as the training CLI parses them back."""
    network = build_network(
        "signal",
        1,
        per_channel=True,
        widths=(4, 8),
        delay_embedding=(3, 8),
        recurrence_radii=(0.5, 1.0),
        value_bins=4,
        value_range=(-8.0, 8.0),
        average_resampled=True,
    )
    printed = fine_tune_options(network, "ck")
    assert "--average-resampled" not in printed  # chosen at export, not in training
    argv = ["train", "--data", "store", "--model", "signal", "--out", "run", *shlex.split(printed)]
    args = build_parser().parse_args(argv)
    assert args.delay_embedding == (3, 8) and args.recurrence_radii == (0.5, 1.0)
    assert (args.value_bins, args.value_range, args.widths) == (4, (-8.0, 8.0), (4, 8))


def test_the_printed_options_fine_tune_the_pruned_network(
    signal_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The two-step recipe through the CLI: prune, then train with the options it printed."""
    pruned = tmp_path / "pruned"
    argv = ["prune", "--checkpoint", str(signal_run.out / "best"), "--out", str(pruned)]
    assert main([*argv, "--widths", "3,6,6,12"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["fine_tune_options"] == f"--init {pruned} --widths 3,6,6,12 --head relu"
    assert printed["keep"] is None
    tuned = tmp_path / "tuned"
    result = fine_tune_for_an_epoch(printed["fine_tune_options"], signal_run, tuned, capsys)
    assert math.isfinite(result["last"]["train_mse"])
    assert math.isfinite(result["best_val_mse"])
    assert read_card(tmp_path / "tuned" / "best").architecture["widths"] == [3, 6, 6, 12]


def lowrank_checkpoint(folder: Path) -> Path:
    network = build_network("image", 3, family="lowrank", widths=TINY_WIDTHS)
    card = ModelCard.describing(
        network,
        name="tiny-lowrank",
        input_shape=(3, 32, 32),
        recipe=RecipeRef(name="image-raster"),
        data_source=DataSourceRef(name="synthetic"),
    )
    save_checkpoint(network, card, folder)
    return folder


def test_a_lowrank_network_prunes_and_its_options_name_its_family_and_rank(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pruned = tmp_path / "pruned"
    source = lowrank_checkpoint(tmp_path / "lowrank")
    assert main(["prune", "--checkpoint", str(source), "--out", str(pruned), "--keep", "0.5"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["fine_tune_options"] == (
        f"--init {pruned} --family lowrank --widths 2,4,4,8 --head sigmoid --rank 4"
    )
    network, card = load_checkpoint(pruned)
    assert (card.family, network.rank, network.widths) == ("lowrank", 4, (2, 4, 4, 8))


@pytest.mark.parametrize(
    "checkpoint, options, message",
    [
        ("signal", ["--keep", "0"], r"keep must be a fraction in \(0, 1\]; got 0\.0"),
        ("signal", ["--keep", "1.5"], r"keep must be a fraction in \(0, 1\]; got 1\.5"),
        ("signal", ["--widths", "2,4,4"], r"pruned widths \[2, 4, 4\] must give each of the 4"),
        ("signal", ["--widths", "2,4,4,32"], r"between 1 and its current number of filters"),
        ("missing", ["--keep", "0.5"], r"no checkpoint at .*missing"),
    ],
)
def test_the_command_refuses_with_a_message(
    checkpoint: str,
    options: list[str],
    message: str,
    signal_run: TrainedRun,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folders = {
        "signal": signal_run.out / "best",
        "missing": tmp_path / "missing",
    }
    argv = ["prune", "--checkpoint", str(folders[checkpoint]), "--out", str(tmp_path / "out")]
    assert main([*argv, *options]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ")
    assert "Traceback" not in captured.err
    assert re.search(message, captured.err)
    assert captured.out == ""
    assert not (tmp_path / "out").exists()
