"""Widening (Net2WiderNet): the same function without noise, copies that part with it, an
ordinary checkpoint afterwards that fine-tunes with the options it prints, and refusals the
CLI reports without a traceback."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from pinet.checkpoint import load_checkpoint, read_card
from pinet.cli import EXIT_USAGE, main
from pinet.inference import load_model
from pinet.resize import widen_checkpoint, widen_network
from pinet.resize.widening import filter_sources
from tests.helpers import TINY_WIDTHS, TrainedRun
from tests.resize.networks import (
    INPUT_SHAPES,
    NETWORKS,
    TRUNKS,
    fine_tune_for_an_epoch,
    scrambled_network,
)

WIDER = (6, 12, 16, 24)  # every block of TINY_WIDTHS wider, one by half again, one doubled


@pytest.mark.parametrize("trunk_options", TRUNKS)
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("modality, family", NETWORKS)
def test_widening_without_noise_keeps_the_function(
    modality: str, family: str, per_channel: bool, trunk_options: dict[str, Any]
) -> None:
    network = scrambled_network(modality, per_channel, family, **trunk_options)
    widened = widen_network(network, WIDER, noise=0.0)
    x = torch.randn(INPUT_SHAPES[modality])
    assert widened.widths == WIDER
    assert (widened.family, widened.per_channel) == (network.family, per_channel)
    assert widened.parameter_count > network.parameter_count
    assert not widened.training  # the source's mode
    with torch.no_grad():
        torch.testing.assert_close(widened(x), network(x), rtol=1e-5, atol=1e-6)


def test_added_filters_copy_their_sources_and_noise_parts_them() -> None:
    network = scrambled_network("image", per_channel=True, family="lowrank")
    exact = widen_network(network, WIDER, noise=0.0, seed=3)
    noisy = widen_network(network, WIDER, noise=0.05, seed=3)
    for widened in (exact, noisy):  # the kept filters are the source's, in their places
        kept = widened.trunk.blocks[0].conv.weight[:4]
        assert torch.equal(kept, network.trunk.blocks[0].conv.weight)
    added_exact = exact.trunk.blocks[0].conv.weight[4:]
    added_noisy = noisy.trunk.blocks[0].conv.weight[4:]
    assert not torch.equal(added_exact, added_noisy)
    relative = (added_noisy - added_exact).std() / added_exact.std()
    assert 0.01 < relative < 0.1  # noise of about 0.05 of a filter's deviation
    x = torch.randn(INPUT_SHAPES["image"])
    with torch.no_grad():
        reference = network(x)
        moved = (noisy(x) - reference).abs().max() / reference.abs().max()
    assert 0 < moved < 0.05  # a little, not nothing


def test_the_seed_draws_the_copied_filters() -> None:
    def drawn(seed: int) -> torch.Tensor:
        return filter_sources(4, 40, torch.Generator().manual_seed(seed))

    assert torch.equal(drawn(1), drawn(1))
    assert not torch.equal(drawn(1), drawn(2))
    assert torch.equal(drawn(1)[:4], torch.arange(4))  # the kept filters copy themselves
    assert int(drawn(1)[4:].max()) < 4


@pytest.mark.parametrize("run", ["signal_run", "image_run"])
def test_a_widened_checkpoint_loads_from_its_card(
    run: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source = request.getfixturevalue(run).out / "best"
    result = widen_checkpoint(source, tmp_path / "wide", widths=WIDER, noise=0.0)
    network, source_card = load_checkpoint(source)
    loaded = load_model(tmp_path / "wide", "cpu")
    x = torch.rand(INPUT_SHAPES[source_card.modality])
    with torch.no_grad():
        torch.testing.assert_close(
            torch.from_numpy(loaded.forward(x)), network.eval()(x), rtol=1e-5, atol=1e-6
        )
    card = read_card(tmp_path / "wide")
    assert card.architecture["widths"] == list(WIDER)
    assert (card.recipe, card.input_shape) == (source_card.recipe, source_card.input_shape)
    assert card.metrics == {}  # the source's scored other weights
    assert card.name == f"{source_card.name}-widened"
    assert card.training["widening"] == {
        "source": source_card.name,
        "source_checkpoint_id": source_card.checkpoint_id,
        "method": "net2wider",
        "seed": 0,
        "noise": 0.0,
        "widths_before": list(TINY_WIDTHS),
        "widths_after": list(WIDER),
        "parameters_before": result["parameters_before"],
        "parameters_after": result["parameters_after"],
    }
    assert card.training["source_training"] == source_card.training


def test_the_printed_options_fine_tune_the_widened_network(
    signal_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The two-step recipe through the CLI: widen, then train with the options it printed."""
    wide = tmp_path / "wide"
    argv = ["widen", "--checkpoint", str(signal_run.out / "best"), "--out", str(wide)]
    assert main([*argv, "--widths", "6,12,16,24", "--seed", "5"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["fine_tune_options"] == f"--init {wide} --widths 6,12,16,24 --head relu"
    assert (printed["seed"], printed["noise"]) == (5, 0.01)
    tuned = tmp_path / "tuned"
    result = fine_tune_for_an_epoch(printed["fine_tune_options"], signal_run, tuned, capsys)
    assert math.isfinite(result["best_val_mse"])
    assert read_card(tmp_path / "tuned" / "best").architecture["widths"] == [6, 12, 16, 24]


@pytest.mark.parametrize(
    "options, message",
    [
        (["--widths", "6,12,16"], r"widened widths \[6, 12, 16\] must give each of the 4"),
        (["--widths", "6,12,4,24"], r"at least its current number of filters"),
        (["--widths", "6,12,16,24", "--noise", "-1"], r"noise must be >= 0; got -1\.0"),
        (["--widths", "6,12,16,24", "--out-is-source"], r"is the checkpoint being resized"),
    ],
)
def test_the_command_refuses_with_a_message(
    options: list[str],
    message: str,
    signal_run: TrainedRun,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = signal_run.out / "best"
    out = source if "--out-is-source" in options else tmp_path / "out"
    options = [option for option in options if option != "--out-is-source"]
    argv = ["widen", "--checkpoint", str(source), "--out", str(out), *options]
    assert main(argv) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ")
    assert "Traceback" not in captured.err
    assert re.search(message, captured.err)
    assert captured.out == ""
    assert not (tmp_path / "out").exists()
