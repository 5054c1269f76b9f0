"""The fixed encodings a trunk may put before its first block (`PINetTrunk`'s options):
functions of their options alone, with no weights, that hand the first convolution what it
would otherwise have to learn from raw samples.

    ValueEncoding       each value beside Gaussian bumps of it   (`--value-bins`)
    DelayEncoding       a signal as its delay-embedding points   (`--delay-embedding`)
    RecurrenceDensity   beside each point, its neighbours' share (`--recurrence-radii`,
                        `--recurrence-stride`, `--recurrence-gap`)
    TurningPoints       a signal as its turning points, one per sample (`--turning-points`)
    RunningExtremes     beside each value, the lowest and highest so far from either end
                        (`--running-extremes`)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ValueEncoding(nn.Module):
    """Each input value beside `bins` Gaussian bumps of it: (N, C, *S) -> (N, C (1 + bins), *S).

    Channels: the C inputs, then the bumps of input 1, of input 2, ... Bump k of value x is
    exp(-((x - c_k) / w)^2 / 2), centres c_k evenly spaced over `value_range`, w their
    spacing. Why: a PI places each diagram point by value (a sublevel bar is born at a local
    minimum's value), and convolutions turn a value into a place on the PI's grid only
    through many thresholds; the bumps hand the trunk that place. Values outside the range
    still reach it through the raw channels. Fixed, not learned: a function of the options
    alone, so checkpoints hold no weights for it.
    """

    def __init__(self, bins: int, value_range: tuple[float, float]) -> None:
        super().__init__()
        low, high = value_range
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2 or not low < high:
            raise ValueError(
                f"value encoding needs at least 2 bins over a range low < high; "
                f"got {bins!r} over {value_range!r}"
            )
        self.bins = bins
        self.range = (float(low), float(high))
        self.register_buffer("centres", torch.linspace(low, high, bins), persistent=False)
        self.spacing = (high - low) / (bins - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, 1, self.bins) + (1,) * (x.ndim - 2)
        distance = (x.unsqueeze(2) - self.centres.view(shape)) / self.spacing
        bumps = torch.exp(-0.5 * distance * distance).flatten(1, 2)
        return torch.cat([x, bumps], dim=1)


class DelayEncoding(nn.Module):
    """Each channel of a signal as the coordinates of its delay embedding:
    (N, C, T) -> (N, C dimension, T - (dimension - 1) delay).

    Channel c dimension + k holds x_c[t + k delay], so position t of the output is the
    point (x_c[t], x_c[t + delay], ...) of `signal-takens`' cloud (`delay_embedding` at
    stride 1), in time order. Why: that recipe's diagram is a function of the distances
    between these points, whose coordinates lie `(dimension - 1) delay` samples apart (16
    at its defaults); a kernel-3 convolution of the raw signal relates samples that far
    apart only after three blocks and as many poolings, when its positions are 8 samples
    wide, where the first block handed the coordinates reads three consecutive points at
    full resolution. Alone it changed nothing measurable on HAPT's takens PIs; it is what
    `RecurrenceDensity` reads (docs/studies.md, "Takens: recurrence densities"). Fixed, not
    learned: a function of the options alone, so checkpoints hold no weights for it.
    """

    def __init__(self, dimension: int, delay: int) -> None:
        super().__init__()
        for name, value, least in (("dimension", dimension, 2), ("delay", delay, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(
                    f"a delay embedding's {name} must be an integer >= {least}; got {value!r}"
                )
        self.dimension = dimension
        self.delay = delay
        self.span = (dimension - 1) * delay  # samples the embedding takes off a signal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[-1] - self.span
        coordinates = [
            x[..., k * self.delay : k * self.delay + length] for k in range(self.dimension)
        ]
        return torch.stack(coordinates, dim=2).flatten(1, 2)


class RecurrenceDensity(nn.Module):
    """Beside each point of a delay embedding, how many of the cloud's points lie near it:
    (N, C dimension, n) coordinates (`DelayEncoding`) -> (N, C (dimension + K), n), the
    coordinates, then K densities of channel 1, of channel 2, ...

    Density k of point i is the mean over the points j of `keys` (every point, or every
    `stride`-th from each end) of max(1 - |p_i - p_j|^2 / r_k^2, 0), r_k the k-th of
    `radii`. Why: most of a `signal-takens` PI's mass is short H1 bars, the small loops
    between strands of the cloud that a periodic signal lays down cycle after cycle, and
    their births and deaths are distances between points far apart in time, which a
    convolution along the signal relates only through its pooled features. The densities
    count those neighbours for it, at every scale of `radii`; a `stride` above 1 counts a
    sample of them, at that fraction of the cost, the densities' one: n x n / stride pairs
    per radius and channel. Measured on HAPT's takens PIs: 13% less validation error for
    the same network (docs/studies.md, "Takens: recurrence densities").

    A `gap` G above 0 counts only the points at least G samples away in time: 1 leaves out
    each point itself, which at the smallest radii is most of its density (82% of the mass at
    radius 0.125 on HAPT's z-scored windows) and, at a stride above 1, says little more than
    whether the point is one of those counted among; more leaves out the points next to it
    on its own strand, so that what remains is where the cloud comes back to it. Measured on
    HAPT's takens PIs: 1% less validation error with a gap of 1, 1.9% more with 9 (docs/
    studies.md, "Takens: densities without each point's own strand, and five networks
    distilled into one").

    |p - q|^2 is the product of (p, |p|^2, 1) and (-2 q, 1, |q|^2), so one MatMul gives
    every pair (5x faster than the same Einsum in onnxruntime), and the mean of
    max(1 - d / r^2, 0) is computed as 1 - mean(min(d, r^2)) / r^2: two passes over the
    pairs (a Clip and a mean) instead of four. In an int8 graph all of it stays in float,
    where 8-bit steps would round every distance. Fixed, not learned.
    """

    def __init__(
        self, dimension: int, radii: tuple[float, ...], stride: int = 1, gap: int = 0
    ) -> None:
        super().__init__()
        if not radii or min(radii) <= 0:
            raise ValueError(f"recurrence radii must be positive distances; got {radii!r}")
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise ValueError(f"a recurrence stride must be a positive integer; got {stride!r}")
        if isinstance(gap, bool) or not isinstance(gap, int) or gap < 0:
            raise ValueError(f"a recurrence gap must be an integer >= 0; got {gap!r}")
        self.dimension = dimension
        self.radii = tuple(float(radius) for radius in radii)
        self.stride = stride
        self.gap = gap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        count, length = x.shape[0], x.shape[-1]
        points = x.view(count, -1, self.dimension, length)  # (N, C, dimension, n)
        others = self.keys(points)  # (N, C, dimension, m)
        queries = torch.cat(
            [points, (points * points).sum(2, keepdim=True), torch.ones_like(points[:, :, :1])],
            dim=2,
        ).transpose(2, 3)  # (N, C, n, dimension + 2)
        keys = torch.cat(
            [
                -2 * others,
                torch.ones_like(others[:, :, :1]),
                (others * others).sum(2, keepdim=True),
            ],
            dim=2,
        )  # (N, C, dimension + 2, m)
        squared = queries @ keys  # (N, C, n, m): |p_i - p_j|^2
        if self.gap:
            squared = squared + self.too_close_in_time(length, squared.device)
        densities = [
            1 - squared.clamp(max=radius * radius).mean(dim=-1) / (radius * radius)
            for radius in self.radii
        ]
        return torch.cat([x, torch.stack(densities, dim=2).flatten(1, 2)], dim=1)

    def too_close_in_time(self, length: int, device: torch.device) -> torch.Tensor:
        """(n, m): the largest radius squared where key j lies fewer than `gap` samples from
        point i, 0 elsewhere. Added to the squared distances, it takes those pairs out of
        every density (max(1 - d / r^2, 0) is 0 from d = r^2 on) and keeps the rest as they
        were; the pairs left out are as symmetric as the keys, so the densities still
        reverse with the window."""
        times = torch.arange(length, device=device)
        apart = (times[:, None] - self.keys(times)[None]).abs()
        return (apart < self.gap) * max(self.radii) ** 2

    def keys(self, points: torch.Tensor) -> torch.Tensor:
        """The points each density counts among, (..., n) -> (..., m): all of them, or every
        `stride`-th one counted from each end of the cloud toward its middle (the middle
        point of an odd count left out), a set that a reversed window maps onto itself, so
        that a reversed window's densities are the window's reversed at any stride."""
        if self.stride == 1:
            return points
        half = points.shape[-1] // 2
        return torch.cat(
            [points[..., : half : self.stride], points.flip(-1)[..., : half : self.stride]], dim=-1
        )


class TurningPoints(nn.Module):
    """Each channel of a signal as the sequence of its turning points, one per sample, the
    last held to the end: (N, C, T) -> (N, C, T).

    Runs of equal values become one value, then every value between two neighbours on
    opposite sides of it (a local minimum or maximum) is kept, with the two ends. Why: a
    path's 0-dim sublevel diagram is made of its local minima and maxima, in their order,
    and of nothing else (a value on a monotone stretch joins a component without making or
    merging one; a repeated value makes a bar of length 0, which a PI weights by 0), so the
    network reads an input with the very same PI. What it no longer sees is what sources
    differ in and the PI ignores: the sampling rate, how smooth a signal is between its
    turns, and where in time they fall. Packed one per sample, every source turns at the
    same pace, and a global average over the positions still sums over the turns, as a PI
    sums over its pairs; the held tail makes no pair. Only a path's sublevel diagrams have
    this invariance (`Recipe.turning_points_only`). Not symmetric under reversal: a reversed
    signal's turning points are packed from its other end. Fixed, not learned. Measured
    worse than the samples, in training and on every real series held out (docs/
    studies.md, "Turning points instead of samples").
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[-1]
        positions = torch.arange(length, device=x.device)
        # Built without in-place writes, which the ONNX export refuses.
        end = torch.ones_like(x[..., :1], dtype=torch.bool)
        runs, count = _compacted(x, torch.cat([end, x[..., 1:] != x[..., :-1]], dim=-1))
        before, after = runs[..., 1:-1] - runs[..., :-2], runs[..., 2:] - runs[..., 1:-1]
        inner = (before * after < 0) & (positions[1:-1] < count - 1)
        turns = torch.cat([~end, inner, ~end], dim=-1)
        turns = turns | (positions == 0) | (positions == count - 1)
        points, kept = _compacted(runs, turns)
        return points.gather(-1, torch.minimum(positions, kept - 1))


def _compacted(x: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The values of `x` where `keep`, moved to the front of the last axis in their order
    (the rest of it unspecified), and how many there are, shape (..., 1)."""
    length, counted = x.shape[-1], keep.long()  # ONNX counts integers only
    target = torch.where(keep, counted.cumsum(-1) - 1, length)
    spare = torch.zeros((*x.shape[:-1], length + 1), dtype=x.dtype, device=x.device)
    return spare.scatter(-1, target, x)[..., :length], counted.sum(-1, keepdim=True)


# The longest path an exported graph scans in full: the service's default limits, 100,000
# samples for a signal and 2048 x 2048 pixels for an image read as its raster path
# (PINET_MAX_SIGNAL_LENGTH, PINET_MAX_IMAGE_PIXELS), within 2 ** 22.
EXPORTED_SCAN_LENGTH = 2**22


class RunningExtremes(nn.Module):
    """Beside each value of a path, the lowest and highest values from its start up to it and
    from it to its end: (N, C, T) -> (N, 5 C, T), the C inputs, then for each channel its
    prefix minimum, suffix minimum, prefix maximum and suffix maximum.

    Why: a 0-dim sublevel bar born at a local minimum dies at the lower of its two barriers,
    the highest value between it and the nearest lower value on each side, and never on a
    side with no lower value. Whether a side is open, and how high the path has climbed on
    it, are facts about the whole path to one side, which convolutions reach only after
    several poolings; the longest bars, where heavy-tailed windows' errors lie, hang on them
    (docs/studies.md, "Running extremes"). The four reverse with the path: a reversed path's
    prefix minimum is its suffix minimum, reversed. Fixed, not learned.

    Computed as a scan of doubling shifts (each position takes the extreme of itself and the
    position 1, 2, 4, ... before it): ceil(log2 T) steps of a padding and a maximum, which an
    ONNX graph holds (it has no cumulative maximum); an exported graph takes enough steps
    for paths of EXPORTED_SCAN_LENGTH samples, whatever length it was traced at.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flipped = x.flip(-1)
        extremes = [
            -self.prefix_max(-x),
            -self.prefix_max(-flipped).flip(-1),
            self.prefix_max(x),
            self.prefix_max(flipped).flip(-1),
        ]
        return torch.cat([x, torch.stack(extremes, dim=2).flatten(1, 2)], dim=1)

    @staticmethod
    def prefix_max(x: torch.Tensor) -> torch.Tensor:
        """(N, C, T) -> the maximum of x[..., :t + 1] at each t."""
        length = x.shape[-1]
        longest = EXPORTED_SCAN_LENGTH if torch.onnx.is_in_onnx_export() else length
        for step in range((longest - 1).bit_length()):  # ceil(log2 longest) doublings
            shifted = F.pad(x, (2**step, 0), mode="replicate")[..., :length]
            x = torch.maximum(x, shifted)
        return x
