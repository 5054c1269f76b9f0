"""The command-line options of the transforms that relabel training samples with the exact
recipe on the fly: random crops (`pinet.train.crops`), minimum rolls (`pinet.train.rolls`)
and stretched tails (`pinet.train.tails`). Part of `add_training_arguments`."""

from __future__ import annotations

import argparse

from pinet.train.config import TrainConfig


def add_relabelling_arguments(parser: argparse.ArgumentParser) -> None:
    """`--crop-min-size`, `--crop-share`, `--roll-to-minimum`, `--stretch-tails` and
    `--stretch-strength`, with `TrainConfig`'s defaults (`--stretch-strength`'s left as None
    when not given, so that `training_config` can refuse it, even at its default value,
    without `--stretch-tails`)."""
    defaults = TrainConfig()
    parser.add_argument(
        "--crop-min-size",
        type=int,
        default=defaults.crop_min_size,
        metavar="N",
        help="crop a share of the batches (--crop-share) to a random length or side from N "
        "to the stored one, each sample at its own offset, and label the crops with the exact "
        "recipe (and the teachers, when distilling) on the fly: the model learns shorter "
        "inputs than its stores hold (default 0: no crops; cheap for the sublevel recipes, "
        "slow for the Rips ones)",
    )
    parser.add_argument(
        "--crop-share",
        type=float,
        default=defaults.crop_share,
        metavar="P",
        help="the share of batches cropped by --crop-min-size (default %(default)s)",
    )
    parser.add_argument(
        "--roll-to-minimum",
        type=float,
        default=defaults.roll_to_minimum,
        metavar="P",
        help="roll each training signal's channels, with probability P, circularly to start "
        "at their minimum, labelled by the exact recipe on the fly: windows that start and "
        "end at their minimum, as closed outlines do (default 0: none)",
    )
    parser.add_argument(
        "--stretch-tails",
        type=float,
        default=defaults.stretch_tails,
        metavar="P",
        help="stretch each training signal's tails, with probability P, by a random "
        "increasing map, labelled by the exact recipe on the fly: windows whose values lie "
        "far from their mean, as in heavy-tailed recordings (default 0: none)",
    )
    parser.add_argument(
        "--stretch-strength",
        type=float,
        default=None,  # not given: TrainConfig's; given, it needs --stretch-tails
        metavar="A",
        help="with --stretch-tails: the largest strength a of the map z exp(a t(z)), drawn "
        f"from 0 to A per channel (default {defaults.stretch_strength:g}; at most 1)",
    )
