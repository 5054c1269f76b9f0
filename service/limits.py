"""What one request may cost: the service's cost model, applied to an input's shape before
it is decoded (a .npy header, a PNG or JPEG header, a CSV's rows and columns, a JSON
signal's lists) and to what the response will hold.

The cost of a forward pass grows with the values it sees, channels x samples or channels x
pixels (measured in service/settings.py), and a response with the PIs it holds (N x C of
them, 10 KB each as .npy, about 30 KB as JSON, 0.4 s per channel drawn as PNG). Every limit
is a setting; a request over one is answered 413 with a message that names it. Exact
topology has caps of its own: values per input on the topology routes, and Rips points per
channel there and for compare=true (a Rips recipe's cost is no linear function of the input).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from pinet.modality import SPATIAL_DIMS, Modality
from pinet.tda import Recipe
from pinet.tda.recipes import ImageRips, SignalTakens
from service.errors import InputError
from service.settings import Settings

ShapeCheck = Callable[[tuple[int, ...]], None]


def input_limits(settings: Settings, modality: Modality, *, batch: bool) -> ShapeCheck:
    """A check of a declared shape, one input `(C, T)` / `(C, H, W)` or a batch `(N, C, ...)`
    when `batch`, against the settings; it raises InputError 413 naming the setting that a
    shape exceeds. Shapes of the wrong rank are left to the model's own check (422), but
    their values still count."""
    spatial_dims = SPATIAL_DIMS[modality]

    def check(shape: tuple[int, ...]) -> None:
        items = shape[0] if batch and shape else 1
        one = shape[1:] if batch else shape
        spatial = one[-spatial_dims:]
        channels = one[-spatial_dims - 1] if len(one) > spatial_dims else 1
        if modality == "signal":
            extent = (spatial[-1] if spatial else 0, settings.max_signal_length,
                      "signal has {} samples", "PINET_MAX_SIGNAL_LENGTH")  # fmt: skip
        else:
            extent = (math.prod(spatial), settings.max_image_pixels,
                      "image has {} pixels", "PINET_MAX_IMAGE_PIXELS")  # fmt: skip
        unit = "samples" if modality == "signal" else "pixels"
        bounds = [
            extent,
            (channels, settings.max_channels, f"{modality} has {{}} channels",
             "PINET_MAX_CHANNELS"),
            (math.prod(one), settings.max_input_elements,
             f"{modality} has {{}} values (channels x {unit})", "PINET_MAX_INPUT_ELEMENTS"),
            (items, settings.max_batch_items, "batch has {} inputs", "PINET_MAX_BATCH_ITEMS"),
            (items * channels, settings.max_response_pis,
             "the answer would hold {} PIs (inputs x channels)", "PINET_MAX_RESPONSE_PIS"),
        ]  # fmt: skip
        for value, limit, what, setting in bounds:
            if value > limit:
                raise InputError(
                    f"{what.format(f'{value:,}')}, more than this server's limit of "
                    f"{limit:,} ({setting})",
                    status_code=413,
                )

    return check


def check_png_channels(channels: int, settings: Settings) -> None:
    """InputError 413 when ?format=png would draw more channels than the server allows."""
    if channels > settings.max_png_channels:
        raise InputError(
            f"format=png draws one panel per channel, at most {settings.max_png_channels} "
            f"(this server's PINET_MAX_PNG_CHANNELS); the input has {channels}: ask for "
            "format=json or npy",
            status_code=413,
        )


def check_topology_cost(recipe: Recipe, shape: tuple[int, ...], settings: Settings) -> None:
    """InputError 413, naming the setting, when exact topology of an input of `shape`
    (validated: `(C, T)` or `(C, H, W)`) by `recipe` is over the server's cap: Rips points
    per channel for the point-cloud recipes (`check_rips_points`), values per input for the
    others."""
    if rips_points(recipe, shape) is not None:
        check_rips_points(recipe, shape, settings, "exact topology")
    elif (count := math.prod(shape)) > settings.max_topology_values:
        raise InputError(
            f"the input has {count:,} values, more than this server's limit of "
            f"{settings.max_topology_values:,} for exact topology (PINET_MAX_TOPOLOGY_VALUES)",
            status_code=413,
        )


def check_rips_points(
    recipe: Recipe, shape: tuple[int, ...], settings: Settings, purpose: str
) -> None:
    """InputError 413 when a Rips recipe would see more points per channel than
    PINET_MAX_RIPS_POINTS: its cost grows faster than the input (up to about 2 s at 1,024
    points), so no input limit bounds it. Nothing for other recipes. `purpose` says what
    asked for the exact topology (a topology route, or compare=true)."""
    found = rips_points(recipe, shape)
    if found is not None and found[0] > settings.max_rips_points:
        raise InputError(
            f"{found[1]}, more than this server's limit of {settings.max_rips_points:,} for "
            f"{purpose} (PINET_MAX_RIPS_POINTS)",
            status_code=413,
        )


def rips_points(recipe: Recipe, shape: tuple[int, ...]) -> tuple[int, str] | None:
    """Points per channel of a Rips recipe on an input of `shape`, and a phrase saying so;
    None for other recipes."""
    if isinstance(recipe, ImageRips):
        count = math.prod(shape[1:])
        return count, f"image-rips sees {count:,} points per channel (its pixels)"
    if isinstance(recipe, SignalTakens):
        count = recipe.embedded_points(shape[-1])
        return (
            count,
            f"signal-takens embeds each channel as {count:,} points (a larger stride embeds fewer)",
        )
    return None
