"""The trunk's options beyond the release, `delay_embedding`, `recurrence_radii` (with
`recurrence_stride` and `recurrence_gap`), `value_bins` (with `value_range`), `multiscale_pool`,
`norm`, `turning_points` and `running_extremes`: what they compute, that a card records and
rebuilds them, that training, `--init` and the ONNX graph carry them, and what refuses group
normalisation (frozen BatchNorm statistics, resizing, statistics taken from a store)."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
import torch
from torch import nn

from data_prep.sources.hapt import HaptWindows
from pinet.checkpoint import load_checkpoint, read_card
from pinet.cli import EXIT_USAGE, main
from pinet.export.onnx import onnx_graph
from pinet.nets import PINet, build_network
from pinet.nets.base import VALUE_RANGES
from pinet.nets.encodings import (
    DelayEncoding,
    RecurrenceDensity,
    RunningExtremes,
    TurningPoints,
    ValueEncoding,
)
from pinet.nets.layers import PINetTrunk, group_count, normalisation, same_max_pool
from pinet.tda.persistence import sublevel_diagrams
from pinet.tda.recipes import get_recipe
from pinet.tda.recipes.takens import delay_embedding
from pinet.tda.reference import finite_pairs
from pinet.train import train
from pinet.train.run_state import start_from
from tests.helpers import TINY_WIDTHS, TrainedRun, tiny_store

INPUT_SHAPES = {"signal": (4, 3, 64), "image": (4, 3, 16, 16)}
OPTIONS = {"value_bins": 5, "multiscale_pool": True, "pooled_maxima": True}


def test_the_encoding_keeps_each_value_and_places_it_among_the_bins() -> None:
    encoding = ValueEncoding(5, (-4.0, 4.0))  # centres -4, -2, 0, 2, 4
    x = torch.tensor([[[-2.0, 0.5, 4.0]], [[20.0, -20.0, 0.0]]])  # (2, 1, 3)
    encoded = encoding(x)
    assert encoded.shape == (2, 6, 3)
    assert torch.equal(encoded[:, 0], x[:, 0])  # the raw values come first
    bumps = encoded[:, 1:]
    assert bumps[0, :, 0].argmax() == 1 and bumps[0, 1, 0] == 1.0  # -2 is centre 1
    assert bumps[0, :, 1].argmax() == 2  # 0.5 is nearest centre 2 (0)
    assert bumps[1, :, 0].max() < 1e-3  # 20, far outside: only the raw channel carries it
    # One set of bumps per input channel, after all the raw channels.
    two = ValueEncoding(5, (0.0, 1.0))(torch.rand(3, 2, 7))
    assert two.shape == (3, 2 + 2 * 5, 7)
    assert "centres" not in encoding.state_dict()  # fixed by the options: nothing to save


@pytest.mark.parametrize("bins, value_range", [(1, (0.0, 1.0)), (True, (0.0, 1.0)), (4, (1, 1))])
def test_a_bad_encoding_is_refused(bins: int, value_range: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="at least 2 bins over a range low < high"):
        ValueEncoding(bins, value_range)


def test_the_delay_encoding_gives_the_first_block_the_recipes_own_points() -> None:
    x = torch.randn(2, 3, 40)
    encoded = DelayEncoding(3, 5)(x)
    assert encoded.shape == (2, 9, 30)
    for n, c in itertools.product(range(2), range(3)):
        points = delay_embedding(x[n, c].numpy(), dimension=3, delay=5, stride=1)
        np.testing.assert_array_equal(encoded[n, 3 * c : 3 * c + 3].T.numpy(), points)


@pytest.mark.parametrize(
    "dimension, delay, problem",
    [
        (1, 8, "dimension must be an integer >= 2"),
        (3, 0, "delay must be an integer >= 1"),
        (3.0, 8, "dimension must be an integer"),
        (3, True, "delay must be an integer"),
    ],
)
def test_a_bad_delay_encoding_is_named(dimension: Any, delay: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        DelayEncoding(dimension, delay)


def test_a_delay_embedding_takes_signals_and_lengthens_the_shortest_one() -> None:
    with pytest.raises(ValueError, match="signals \\(one spatial axis\\) only"):
        build_network("image", 3, family="lowrank", delay_embedding=(3, 8))
    plain = seeded_network("signal", "lowrank")
    embedded = seeded_network("signal", "lowrank", delay_embedding=(3, 8))
    assert embedded.min_input_size == plain.min_input_size + 16
    assert embedded.trunk.blocks[0].conv.in_channels == 3  # one channel, three coordinates
    with pytest.raises(ValueError, match="at least 24"):
        embedded(torch.randn(1, 3, 23))
    assert embedded(torch.randn(1, 3, 24)).shape == (1, 3, 50, 50)


def test_each_points_densities_count_its_neighbours_at_every_radius() -> None:
    x = torch.randn(2, 2, 30)
    encoded = RecurrenceDensity(3, (0.5, 1.0, 2.0))(DelayEncoding(3, 4)(x))
    assert encoded.shape == (2, 2 * (3 + 3), 22)
    torch.testing.assert_close(encoded[:, :6], DelayEncoding(3, 4)(x))  # coordinates first
    for n, c in itertools.product(range(2), range(2)):
        points = delay_embedding(x[n, c].double().numpy(), dimension=3, delay=4, stride=1)
        squared = ((points[:, None] - points[None]) ** 2).sum(-1)
        for k, radius in enumerate((0.5, 1.0, 2.0)):
            expected = np.clip(1 - squared / radius**2, 0, None).mean(-1)
            np.testing.assert_allclose(encoded[n, 6 + 3 * c + k].numpy(), expected, atol=1e-5)
    # Among every other point only, counted from each end: 0, 2, ..., 10 and 21, 19, ..., 11.
    sampled = RecurrenceDensity(3, (1.0,), stride=2)(DelayEncoding(3, 4)(x))
    points = delay_embedding(x[1, 0].double().numpy(), dimension=3, delay=4, stride=1)
    keys = points[[0, 2, 4, 6, 8, 10, 21, 19, 17, 15, 13, 11]]
    squared = ((points[:, None] - keys[None]) ** 2).sum(-1)
    expected = np.clip(1 - squared, 0, None).mean(-1)
    np.testing.assert_allclose(sampled[1, 6].numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("stride", [1, 2])
def test_a_gap_leaves_out_the_points_too_close_in_time(stride: int) -> None:
    x = torch.randn(2, 1, 30)
    points = delay_embedding(x[1, 0].double().numpy(), dimension=3, delay=4, stride=1)
    times = np.arange(len(points))
    keys = times if stride == 1 else np.array([0, 2, 4, 6, 8, 10, 21, 19, 17, 15, 13, 11])
    squared = ((points[:, None] - points[keys][None]) ** 2).sum(-1)
    near = np.abs(times[:, None] - keys[None]) < 3  # itself and two samples either side
    assert near.sum() > len(points)
    encoded = RecurrenceDensity(3, (0.5, 2.0), stride, gap=3)(DelayEncoding(3, 4)(x))
    itself = np.isin(times, keys) / len(keys)  # a key's own pair counts 1
    for k, radius in enumerate((0.5, 2.0)):
        contributions = np.clip(1 - squared / radius**2, 0, None)
        expected = np.where(near, 0, contributions).mean(-1)
        np.testing.assert_allclose(encoded[1, 3 + k].numpy(), expected, atol=1e-5)
        assert (contributions.mean(-1) >= expected + itself - 1e-6).all()


@pytest.mark.parametrize(
    "stride, length, gap", [(1, 30, 0), (2, 30, 0), (2, 31, 1), (3, 30, 5), (4, 33, 2)]
)
def test_a_reversed_windows_densities_are_the_windows_reversed(
    stride: int, length: int, gap: int
) -> None:
    # A reversed channel is an isometric cloud in reverse order, and the points counted
    # among are the same set from either end: the densities reverse exactly, at any stride
    # and gap.
    x = torch.randn(2, 2, length)
    densities = RecurrenceDensity(3, (0.5, 1.0, 2.0), stride, gap)
    encoded = densities(DelayEncoding(3, 4)(x))
    reversed_encoding = densities(DelayEncoding(3, 4)(x.flip(-1)))
    torch.testing.assert_close(reversed_encoding[:, 6:], encoded[:, 6:].flip(-1))


def test_bad_radii_or_no_embedding_are_named() -> None:
    for radii in [(), (0.5, 0.0), (-1.0,)]:
        with pytest.raises(ValueError, match="radii must be positive distances"):
            RecurrenceDensity(3, radii)
    for stride in (0, 1.5, True):
        with pytest.raises(ValueError, match="stride must be a positive integer"):
            RecurrenceDensity(3, (0.5,), stride)  # type: ignore[arg-type]
    for gap in (-1, 0.5, True):
        with pytest.raises(ValueError, match="gap must be an integer >= 0"):
            RecurrenceDensity(3, (0.5,), 1, gap)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="of a delay embedding's points: give one"):
        build_network("signal", 3, family="lowrank", recurrence_radii=(0.5,))
    for option in ({"recurrence_stride": 2}, {"recurrence_gap": 1}):
        with pytest.raises(ValueError, match="count among: give recurrence radii"):
            build_network("signal", 3, family="lowrank", delay_embedding=(3, 2), **option)


@pytest.mark.parametrize("family", ["pinet", "lowrank"])
def test_a_delay_embedding_is_recorded_rebuilt_and_computed_by_the_onnx_graph(
    family: str,
) -> None:
    network = seeded_network(
        "signal",
        family,
        delay_embedding=(3, 4),
        recurrence_radii=(0.5, 1.0),
        recurrence_stride=3,
        recurrence_gap=2,
        value_bins=3,
    ).eval()
    assert network.architecture["delay_embedding"] == [3, 4]
    assert network.architecture["recurrence_radii"] == [0.5, 1.0]
    assert network.architecture["recurrence_stride"] == 3
    assert network.architecture["recurrence_gap"] == 2
    assert network.trunk.blocks[0].conv.in_channels == (3 + 2) * (1 + 3)
    assert "delay_embedding" not in seeded_network("signal", family).architecture
    ungapped = seeded_network("signal", family, delay_embedding=(3, 4), recurrence_radii=(0.5,))
    assert "recurrence_gap" not in ungapped.architecture
    rebuilt = build_network("signal", 3, family=family, per_channel=True, **network.architecture)
    rebuilt.load_state_dict(network.state_dict())  # the encoding holds no weights
    x = torch.randn(INPUT_SHAPES["signal"]).clamp(-4, 4)
    longer = torch.randn(2, 3, 91).clamp(-4, 4)  # the points left out follow the length
    with torch.no_grad():
        expected = network(x)
        torch.testing.assert_close(rebuilt.eval()(x), expected)
        assert_the_onnx_graph_computes(network, x, expected, (longer, network(longer)))


@pytest.mark.parametrize("spatial_dims, shape", [(1, (3, 2, 64)), (2, (3, 2, 16, 16))])
def test_a_multiscale_trunk_adds_every_earlier_block_to_the_last_ones_features(
    spatial_dims: int, shape: tuple[int, ...]
) -> None:
    torch.manual_seed(0)
    multiscale = PINetTrunk(2, spatial_dims, TINY_WIDTHS, multiscale_pool=True).eval()
    plain = PINetTrunk(2, spatial_dims, TINY_WIDTHS).eval()
    plain.load_state_dict(multiscale.state_dict())  # the same blocks: pooling adds no weights
    x = torch.randn(shape)
    features = multiscale(x)
    assert multiscale.features == sum(TINY_WIDTHS) == features.shape[1]
    assert plain.features == TINY_WIDTHS[-1]
    torch.testing.assert_close(features[:, -TINY_WIDTHS[-1] :], plain(x))
    first_block = multiscale.blocks[0](x).mean(dim=tuple(range(2, x.ndim)))
    torch.testing.assert_close(features[:, : TINY_WIDTHS[0]], first_block)
    assert multiscale.feature_offsets() == [(0,), (4,), (12,), (20,)]
    assert plain.feature_offsets() == [(), (), (), (0,)]


@pytest.mark.parametrize("multiscale_pool", [False, True])
def test_pooled_maxima_follow_the_averages_and_reach_the_head_undiluted(
    multiscale_pool: bool,
) -> None:
    torch.manual_seed(0)
    options = {"multiscale_pool": multiscale_pool}
    with_maxima = PINetTrunk(2, 1, TINY_WIDTHS, pooled_maxima=True, **options).eval()
    averages_only = PINetTrunk(2, 1, TINY_WIDTHS, **options).eval()
    averages_only.load_state_dict(with_maxima.state_dict())  # pooling adds no weights
    x = torch.randn(3, 2, 64)
    features = with_maxima(x)
    assert with_maxima.features == 2 * averages_only.features == features.shape[1]
    half = averages_only.features
    torch.testing.assert_close(features[:, :half], averages_only(x))
    last = with_maxima.blocks[0](x)
    for block in with_maxima.blocks[1:]:
        last = block(same_max_pool(last))
    torch.testing.assert_close(features[:, -TINY_WIDTHS[-1] :], last.amax(dim=2))
    # One sample's feature counts in full in the maximum, whatever the window's length.
    spiked = torch.zeros(1, 2, 256)
    spiked[..., 100] = -5.0
    longer = torch.cat([spiked, torch.zeros(1, 2, 256)], dim=2)
    short_features, long_features = with_maxima(spiked), with_maxima(longer)
    torch.testing.assert_close(short_features[:, half:], long_features[:, half:])
    assert not torch.allclose(short_features[:, :half], long_features[:, :half])
    averages = averages_only.feature_offsets()
    assert with_maxima.feature_offsets() == [(*a, *(half + i for i in a)) for a in averages]


# Every network with an ONNX graph (the release's image head, an FFT, has none).
EXPORTABLE = [("signal", "pinet"), ("signal", "lowrank"), ("image", "lowrank"), ("image", "raster")]


def seeded_network(modality: str, family: str, **options: Any) -> PINet:
    """A test-sized per-channel network of 3 channels with `options`, seeded: the same
    weights every time."""
    torch.manual_seed(0)
    return build_network(
        modality, 3, family=family, per_channel=True, widths=TINY_WIDTHS, **options
    )


@pytest.mark.parametrize("modality, family", EXPORTABLE)
def test_the_architecture_records_the_options_and_the_onnx_graph_computes_them(
    modality: str, family: str
) -> None:
    network = seeded_network(modality, family, **OPTIONS).eval()
    assert network.architecture | OPTIONS == network.architecture
    assert network.trunk.encoding.centres[[0, -1]].tolist() == list(VALUE_RANGES[modality])
    rebuilt = build_network(modality, 3, family=family, per_channel=True, **network.architecture)
    rebuilt.load_state_dict(network.state_dict())
    x = torch.randn(INPUT_SHAPES[modality]).clamp(-4, 4)
    if modality == "image":
        x = x.sigmoid()
    with torch.no_grad():
        expected = network(x)
        torch.testing.assert_close(rebuilt.eval()(x), expected)
    assert_the_onnx_graph_computes(network, x, expected)


def test_a_value_range_moves_the_bins_is_recorded_only_when_set_and_rebuilt() -> None:
    default = seeded_network("signal", "pinet", value_bins=5)
    assert "value_range" not in default.architecture  # cards written before it still match
    wide = seeded_network("signal", "pinet", value_bins=5, value_range=(-8.0, 8.0)).eval()
    assert wide.architecture["value_range"] == [-8.0, 8.0]
    assert wide.trunk.encoding.centres.tolist() == [-8.0, -4.0, 0.0, 4.0, 8.0]
    rebuilt = build_network(
        "signal", 3, per_channel=True, **json.loads(json.dumps(wide.architecture))
    )
    rebuilt.load_state_dict(wide.state_dict())
    x = 3 * torch.randn(INPUT_SHAPES["signal"])
    with torch.no_grad():
        expected = wide(x)
        torch.testing.assert_close(rebuilt.eval()(x), expected)
        # Same weights, bins at the default centres: another network.
        narrow = seeded_network("signal", "pinet", value_bins=5).eval()
        narrow.load_state_dict(wide.state_dict())
        assert not torch.allclose(narrow(x), expected)
    assert_the_onnx_graph_computes(wide, x, expected)
    with pytest.raises(ValueError, match="give value bins"):
        build_network("signal", 3, value_range=(-8.0, 8.0))


def assert_the_onnx_graph_computes(
    network: torch.nn.Module,
    x: torch.Tensor,
    expected: torch.Tensor,
    *others: tuple[torch.Tensor, torch.Tensor],
) -> None:
    """The network's ONNX graph, traced on two inputs, gives `expected` for all of `x`, and
    for each (inputs, expected) of `others`, inputs of other lengths or sizes."""
    session = onnxruntime.InferenceSession(
        onnx_graph(network, x[:2]), providers=["CPUExecutionProvider"]
    )
    for inputs, outputs in [(x, expected), *others]:
        (got,) = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})
        np.testing.assert_allclose(got, outputs.numpy(), rtol=0, atol=1e-5)


def test_training_records_the_options_and_init_requires_them(
    signal_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = dataclasses.replace(signal_run.config, epochs=1, **OPTIONS)
    train(signal_run.store, "signal", tmp_path / "run", config, progress=False)
    card = read_card(tmp_path / "run" / "best")
    assert card.architecture["value_bins"] == 5 and card.architecture["multiscale_pool"]
    assert card.architecture["pooled_maxima"] and card.training["pooled_maxima"]
    assert card.training["value_bins"] == 5
    argv = ["train", "--data", str(signal_run.store), "--model", "signal", "--epochs", "1"]
    argv += ["--widths", ",".join(map(str, TINY_WIDTHS)), "--device", "cpu", "--no-progress"]
    argv += ["--init", str(tmp_path / "run" / "best")]
    assert main([*argv, "--out", str(tmp_path / "bare")]) == EXIT_USAGE
    assert "--value-bins, --value-range, --multiscale-pool" in capsys.readouterr().err
    tuned = [*argv, "--out", str(tmp_path / "tuned"), "--value-bins", "5", "--multiscale-pool"]
    tuned.append("--pooled-maxima")
    assert main(tuned) == 0
    assert json.loads(capsys.readouterr().out)["best_val_mse"] > 0


def test_a_network_with_pooled_maxima_starts_from_one_without_computing_the_same(
    signal_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    best = signal_run.out / "best"
    trained, card = load_checkpoint(best)
    options = {"family": card.family, "per_channel": card.per_channel}
    architecture = trained.architecture | {"pooled_maxima": True}
    widened = build_network("signal", trained.in_channels, **options, **architecture)
    assert start_from(widened, str(best)) == card.checkpoint_id
    x = torch.randn(4, trained.in_channels, 64)
    with torch.no_grad():
        torch.testing.assert_close(widened.eval()(x), trained.eval()(x))
    head = dict(widened.named_parameters())[f"{widened.head_input}.weight"]
    assert head.shape[1] == 2 * trained.trunk.features
    assert not head[:, trained.trunk.features :].any()  # the maxima's columns start at zero
    argv = ["train", "--data", str(signal_run.store), "--model", "signal", "--epochs", "1"]
    argv += ["--widths", ",".join(map(str, TINY_WIDTHS)), "--device", "cpu", "--no-progress"]
    tuned = tmp_path / "tuned"
    assert main([*argv, "--init", str(best), "--pooled-maxima", "--out", str(tuned)]) == 0
    assert read_card(tuned / "best").architecture["pooled_maxima"]
    # Not the other way round: a network without them would drop what the head learned.
    assert (
        main([*argv, "--init", str(tuned / "best"), "--out", str(tmp_path / "back")]) == EXIT_USAGE
    )
    assert "--pooled-maxima" in capsys.readouterr().err


def test_training_records_a_delay_embedding_and_the_cli_names_a_bad_one(
    signal_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--data", str(signal_run.store), "--model", "signal", "--epochs", "1"]
    argv += ["--widths", ",".join(map(str, TINY_WIDTHS)), "--device", "cpu", "--no-progress"]
    for option, bad, problem in [
        *[("--delay-embedding", bad, "expected DIMENSION,DELAY") for bad in ("3", "1,8", "a,b")],
        *[("--recurrence-radii", bad, "expected positive distances") for bad in ("0", "a", "")],
        *[("--value-range", bad, "expected LOW,HIGH") for bad in ("8,-8", "1", "0,inf", "a,b")],
    ]:
        with pytest.raises(SystemExit):
            main([*argv, "--out", str(tmp_path / "bad"), option, bad])
        assert problem in capsys.readouterr().err
    for options, problem in [
        (["--recurrence-radii", "0.5"], "densities are of a delay embedding's points"),
        (
            ["--delay-embedding", "3,2", "--recurrence-radii", "0.5", "--recurrence-stride", "0"],
            "recurrence stride must be a positive integer; got 0",
        ),
        (
            ["--delay-embedding", "3,2", "--recurrence-radii", "0.5", "--recurrence-gap", "-1"],
            "recurrence gap must be an integer >= 0; got -1",
        ),
    ]:
        assert main([*argv, "--out", str(tmp_path / "bad"), *options]) == EXIT_USAGE
        assert problem in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert main([*argv, "--out", str(tmp_path / "run"), "--delay-embedding", "3,2"]) == 0
    capsys.readouterr()
    card = read_card(tmp_path / "run" / "best")
    assert card.architecture["delay_embedding"] == [3, 2]
    assert card.training["delay_embedding"] == [3, 2]
    assert card.min_input_size == 2 ** (len(TINY_WIDTHS) - 1) + 4
    argv += ["--init", str(tmp_path / "run" / "best"), "--out", str(tmp_path / "tuned")]
    assert main(argv) == EXIT_USAGE  # the network it starts from reads the coordinates
    assert "--delay-embedding" in capsys.readouterr().err


@pytest.mark.parametrize(
    "channels, groups", [(16, 2), (512, 64), (8, 1), (4, 1), (12, 1), (100, 10)]
)
def test_groups_hold_eight_filters_where_they_divide_evenly(channels: int, groups: int) -> None:
    assert group_count(channels) == groups
    assert channels % groups == 0  # GroupNorm needs equal groups


def test_an_unknown_normalisation_is_named() -> None:
    with pytest.raises(ValueError, match="unknown normalisation 'layer'"):
        normalisation("layer", 8, 1)  # type: ignore[arg-type]


def _inputs(modality: str) -> torch.Tensor:
    torch.manual_seed(1)
    x = torch.randn(INPUT_SHAPES[modality])
    return x.sigmoid() if modality == "image" else x


@pytest.mark.parametrize("modality, family", EXPORTABLE)
def test_each_sample_is_normalised_alone_the_card_rebuilds_it_and_onnx_computes_it(
    modality: str, family: str
) -> None:
    network = seeded_network(modality, family, norm="group")
    assert network.architecture["norm"] == "group"
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in network.trunk.modules())
    x = _inputs(modality)
    with torch.no_grad():
        # Training mode, where BatchNorm would mix the batch: a sample's PIs are its own.
        torch.testing.assert_close(network.train()(x)[:1], network(x[:1]))
        batch_normed = build_network(
            modality, 3, family=family, per_channel=True, widths=TINY_WIDTHS
        )
        assert not torch.allclose(batch_normed.train()(x)[:1], batch_normed(x[:1]))
        expected = network.eval()(x)
    rebuilt = build_network(modality, 3, family=family, per_channel=True, **network.architecture)
    rebuilt.load_state_dict(network.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), expected)
    assert_the_onnx_graph_computes(network, x, expected)


def test_a_release_network_records_no_normalisation() -> None:
    network = build_network("signal", 3, widths=TINY_WIDTHS)
    assert "norm" not in network.architecture  # cards written before the option still match


def test_training_records_it_and_what_needs_batch_statistics_refuses_it(
    signal_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = dataclasses.replace(signal_run.config, epochs=1, norm="group")
    train(signal_run.store, "signal", tmp_path / "run", config, progress=False)
    best = tmp_path / "run" / "best"
    network, card = load_checkpoint(best)
    assert card.architecture["norm"] == "group" and card.training["norm"] == "group"
    assert isinstance(network.trunk.blocks[0].bn, nn.GroupNorm)

    argv = ["train", "--data", str(signal_run.store), "--model", "signal", "--epochs", "1"]
    argv += ["--widths", ",".join(map(str, TINY_WIDTHS)), "--device", "cpu", "--no-progress"]
    argv += ["--norm", "group", "--frozen-batch-norm", "--out", str(tmp_path / "frozen")]
    assert main(argv) == EXIT_USAGE
    assert "--frozen-batch-norm freezes BatchNorm statistics" in capsys.readouterr().err

    pruned = ["prune", "--checkpoint", str(best), "--keep", "0.5", "--out", str(tmp_path / "p")]
    assert main(pruned) == EXIT_USAGE
    assert "only BatchNorm trunks" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()

    evaluated = ["eval", "--checkpoint", str(best), "--data", str(signal_run.store)]
    assert main([*evaluated, "--batch-norm-from", str(signal_run.store)]) == EXIT_USAGE
    assert "has no BatchNorm" in capsys.readouterr().err


def test_turning_points_are_packed_first_and_the_last_is_held() -> None:
    x = torch.tensor([[[0.0, 1.0, 2.0, 2.0, 1.0, 1.0, 3.0, 3.0, 3.0, 0.5]]])
    # 0 up to the plateau at 2 (a maximum), down to the plateau at 1 (a minimum), up to 3
    # (a maximum held three samples), down to the end at 0.5.
    expected = [0.0, 2.0, 1.0, 3.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    assert TurningPoints()(x)[0, 0].tolist() == expected
    assert TurningPoints()(torch.full((1, 1, 5), 2.5))[0, 0].tolist() == [2.5] * 5


def test_turning_points_have_the_signals_own_sublevel_diagram() -> None:
    generator = np.random.default_rng(0)
    signals = [
        generator.standard_normal(200),
        np.cumsum(generator.standard_normal(300)),
        np.round(np.sin(np.linspace(0, 20, 250)) * 4),  # plateaus at every extremum
        np.repeat(generator.integers(0, 3, 40), generator.integers(1, 6, 40)),  # ties only
        np.where(generator.random(128) < 0.05, 8.0, 0.0),  # spikes on a flat line
        np.linspace(-1, 1, 64),  # no turn at all
    ]
    for signal in signals:
        values = torch.tensor(signal, dtype=torch.float32).view(1, 1, -1)
        (expected,) = sublevel_diagrams(values.view(1, -1).numpy())
        (got,) = sublevel_diagrams(TurningPoints()(values).view(1, -1).numpy())
        # The pairs of positive length, all that a PI weighs.
        np.testing.assert_array_equal(finite_pairs(got), finite_pairs(expected))


def test_turning_points_are_refused_where_the_diagram_needs_every_sample(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"a trunk over one axis .* without a delay embedding"):
        build_network("signal", 3, turning_points=True, delay_embedding=(3, 2))
    with pytest.raises(ValueError, match="a trunk over one axis"):
        build_network("image", 3, turning_points=True)
    raster = build_network("image", 3, family="raster", turning_points=True)
    assert raster.architecture["turning_points"]
    assert get_recipe("signal-sublevel").turning_points_only
    assert get_recipe("image-raster").turning_points_only
    assert not get_recipe("image-cubical").turning_points_only
    takens = tiny_store(tmp_path / "takens.zarr", HaptWindows(), "signal-takens", 24)
    config = dataclasses.replace(signal_run.config, epochs=1, turning_points=True)
    with pytest.raises(ValueError, match="signal-takens's diagrams depend on more than"):
        train(takens, "signal", tmp_path / "run", config, progress=False)
    assert not (tmp_path / "run").exists()


def test_running_extremes_are_the_lowest_and_highest_values_from_either_end() -> None:
    x = torch.tensor([[[2.0, 0.0, 3.0, -1.0, 1.0]], [[5.0, 5.0, 5.0, 5.0, 5.0]]])
    encoded = RunningExtremes()(x)
    assert encoded.shape == (2, 5, 5)
    assert torch.equal(encoded[:, 0], x[:, 0])  # the values come first
    assert encoded[0, 1].tolist() == [2.0, 0.0, 0.0, -1.0, -1.0]  # minimum from the start
    assert encoded[0, 2].tolist() == [-1.0, -1.0, -1.0, -1.0, 1.0]  # minimum from the end
    assert encoded[0, 3].tolist() == [2.0, 2.0, 3.0, 3.0, 3.0]  # maximum from the start
    assert encoded[0, 4].tolist() == [3.0, 3.0, 3.0, 1.0, 1.0]  # maximum from the end
    assert torch.equal(encoded[1], x[1].expand(5, 5))  # a constant path is its own extremes
    # Four per channel, after all the values, at any length the scan must double over.
    many = torch.randn(3, 2, 1000)
    got = RunningExtremes()(many)
    assert got.shape == (3, 2 + 2 * 4, 1000)
    torch.testing.assert_close(got[:, 2 + 4], many[:, 1].cummin(-1).values, rtol=0, atol=0)
    reversed_maxima = many[:, 1].flip(-1).cummax(-1).values.flip(-1)
    torch.testing.assert_close(got[:, 2 + 7], reversed_maxima, rtol=0, atol=0)


def test_reversing_a_path_swaps_its_running_extremes_from_either_end() -> None:
    """What `average_reversed` relies on to reuse one encoding for both directions."""
    trunk = seeded_network("signal", "pinet", running_extremes=True, value_bins=3).trunk
    folded = torch.randn(6, 1, 64)
    with torch.no_grad():
        torch.testing.assert_close(
            trunk.reversed_encoding(trunk.encode(folded)), trunk.encode(folded.flip(-1))
        )


@pytest.mark.parametrize("option", ["turning_points", "running_extremes"])
def test_a_network_of_a_path_encoding_averages_its_reversal_and_onnx_computes_it(
    option: str,
) -> None:
    network = seeded_network("signal", "pinet", **{option: True}, value_bins=3).eval()
    assert network.architecture[option]
    assert option not in seeded_network("signal", "pinet").architecture
    rebuilt = build_network("signal", 3, family="pinet", per_channel=True, **network.architecture)
    rebuilt.load_state_dict(network.state_dict())
    x = torch.randn(INPUT_SHAPES["signal"]).clamp(-4, 4)
    longer = torch.randn(2, 3, 91).clamp(-4, 4)
    with torch.no_grad():
        expected = network(x)
        torch.testing.assert_close(rebuilt.eval()(x), expected)
        network.average_reversed = True
        averaged = network(x)
        network.average_reversed = False
        torch.testing.assert_close(averaged, (expected + network(x.flip(-1))) / 2)
        # Traced at 64 samples, the graph encodes a longer path in full.
        assert_the_onnx_graph_computes(network, x, expected, (longer, network(longer)))


def test_running_extremes_take_a_path_and_the_training_cli_records_them(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"running extremes are a path's: .* delay embedding"):
        build_network("signal", 3, running_extremes=True, delay_embedding=(3, 2))
    with pytest.raises(ValueError, match="turning points and running extremes are a path's"):
        build_network("image", 3, running_extremes=True, turning_points=True)
    assert (
        build_network("image", 3, family="raster", running_extremes=True).trunk.extremes is not None
    )
    out = tmp_path / "extremes"
    argv = ["train", "--data", str(signal_run.store), "--model", "signal", "--epochs", "1"]
    argv += ["--widths", ",".join(map(str, TINY_WIDTHS)), "--device", "cpu", "--no-progress"]
    assert main([*argv, "--running-extremes", "--out", str(out)]) == 0
    network, card = load_checkpoint(out / "best")
    assert card.architecture["running_extremes"] is True
    assert card.training["running_extremes"] is True
    assert network.trunk.extremes is not None
