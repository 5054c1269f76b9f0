"""The ground-truth job end to end on real sources and recipes: what a store holds, how
failures are recorded, and that the process pool and a Dask cluster give the inline result.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import ClassVar

import numpy as np
import psutil
import pytest

from data_prep import cli, job
from data_prep.sources.base import Sample, Source
from pinet.modality import Modality
from pinet.store import DONE, FAILED, PENDING, GroundTruthStore
from pinet.tda import PI_SIZE, get_recipe
from service.launcher import free_port

# ---------------------------------------------------------------------------------------
# A complete store


def test_pis_are_the_recipe_images_of_the_stored_inputs(photos_store) -> None:
    store = GroundTruthStore.open(photos_store[0])
    pis = store["pis"][:]
    assert pis.shape == (40, 3, PI_SIZE, PI_SIZE)
    assert pis.dtype == np.float32
    assert pis.max() > 0
    np.testing.assert_array_equal(pis, store.recipe.images_batch(store["inputs"][:]))


def test_diagrams_are_the_recipe_diagrams_of_each_input(photos_store) -> None:
    store = GroundTruthStore.open(photos_store[0])
    inputs = store["inputs"][:]
    for i in range(len(store)):
        expected = store.recipe.diagrams(inputs[i])
        stored = store.diagrams(i)
        assert len(stored) == len(expected) == 3
        for channel, (got, want) in enumerate(zip(stored, expected, strict=True)):
            np.testing.assert_array_equal(got, want, err_msg=f"sample {i} channel {channel}")
    offsets = store["diagrams/offsets"][:]
    assert offsets.shape == (40 * 3 + 1,)
    assert offsets[-1] == store["diagrams/values"].shape[0] > 0


def test_samples_are_the_sources_spread_through_its_order(photos_store, photos_source) -> None:
    store = GroundTruthStore.open(photos_store[0])
    samples = list(photos_source.samples())
    position = {sample.id: i for i, sample in enumerate(samples)}
    ids = store["ids"][:].tolist()
    picks = np.array([position[i] for i in ids])
    # Spread evenly: first and last sample, increasing, gaps differing by at most one.
    gaps = np.diff(picks)
    assert len(picks) == 40
    assert picks[0] == 0 and picks[-1] == len(samples) - 1
    assert gaps.min() > 0 and gaps.max() - gaps.min() <= 1
    chosen = [samples[i] for i in picks]
    assert store["labels"][:].tolist() == [s.label for s in chosen]
    assert store["groups"][:].tolist() == [s.group for s in chosen]
    assert store["split"][:].tolist() == [s.split for s in chosen]
    assert set(store["split"][:].tolist()) == {"train", "test"}
    inputs = store["inputs"][:]
    assert inputs.dtype == np.uint8
    np.testing.assert_array_equal(inputs, np.stack([s.input for s in chosen]))
    assert (store["status"][:] == DONE).all()
    assert store["errors"][:].tolist() == [""] * 40


def test_attributes_record_job_versions_and_creation(photos_store, photos_source) -> None:
    path, summary = photos_store
    store = GroundTruthStore.open(path)
    attrs = store.attrs
    assert attrs["job"] == {
        "recipe": {"name": "image-raster", "params": get_recipe("image-raster").params},
        "source": {"name": "photos", "params": photos_source.params},
        "limit": 40,
        "chunk_size": 8,
    }
    assert attrs["job"]["source"]["params"] == {
        "seed": 0,
        "train_per_photo": 400,
        "test_per_photo": 100,
        "size": 32,
        "downscale": 1,
    }
    for package in ("numpy", "ripser", "gudhi", "numba", "zarr"):
        assert attrs["versions"][package] == version(package)
    assert attrs["versions"]["python"] == platform.python_version()
    created = datetime.fromisoformat(attrs["created"])
    assert created.tzinfo is not None
    assert timedelta(0) <= datetime.now(UTC) - created < timedelta(hours=1)
    assert attrs["complete"] is True
    assert (attrs["n_samples"], attrs["channels"], attrs["input_shape"]) == (40, 3, [3, 32, 32])
    assert attrs["summary"] == summary.as_dict()
    assert (summary.samples, summary.done, summary.failed) == (40, 40, 0)
    assert summary.computed_now == 40
    assert not (path / "pending_diagrams").exists()


def test_rerun_of_a_complete_store_computes_nothing(
    photos_store, run_photos_job, tmp_path, files_of, capsys
) -> None:
    out = tmp_path / "photos.zarr"
    shutil.copytree(photos_store[0], out)
    before = files_of(out)
    summary = run_photos_job(out, workers=1)
    assert summary.computed_now == 0
    assert (summary.samples, summary.done, summary.failed) == (40, 40, 0)
    # Only the root metadata (its summary attribute) may be rewritten.
    after = files_of(out)
    assert {k: v for k, v in after.items() if k != "zarr.json"} == {
        k: v for k, v in before.items() if k != "zarr.json"
    }
    assert sorted(after) == sorted(before)

    arguments = "generate --source photos --limit 40 --chunk-size 8 --workers 1 --no-progress"
    exit_code = cli.main([*arguments.split(), "--out", str(out)])
    assert exit_code == 0
    assert "computed this run: 0 " in capsys.readouterr().out
    assert {k: v for k, v in files_of(out).items() if k != "zarr.json"} == {
        k: v for k, v in before.items() if k != "zarr.json"
    }


# A killed writer's temporary files (Zarr's `<stem>.<uuid4 hex>.partial`), as a kill mid-write
# leaves them.
PARTIAL = f"zarr.{'0f' * 16}.partial"


def test_a_resumed_store_loses_the_files_a_killed_writer_left_half_written(
    photos_store, run_photos_job, tmp_path, same_store
) -> None:
    out = tmp_path / "photos.zarr"
    shutil.copytree(photos_store[0], out)
    leftovers = [out / PARTIAL, out / "pis" / "c" / f"0.{'a1' * 16}.partial"]
    for leftover in leftovers:
        leftover.write_bytes(b'{"zarr_format": 3, "node_')
    assert run_photos_job(out, workers=1).computed_now == 0
    assert not any(leftover.exists() for leftover in leftovers)
    same_store(out, photos_store[0])


def test_a_store_killed_in_its_first_write_is_planned_again(
    photos_store, run_photos_job, tmp_path, same_store
) -> None:
    out = tmp_path / "photos.zarr"
    out.mkdir()
    (out / PARTIAL).write_bytes(b"{")
    assert run_photos_job(out, workers=1).computed_now == 40
    same_store(out, photos_store[0])


def test_a_folder_that_is_no_store_keeps_its_partial_looking_files(
    run_photos_job, tmp_path
) -> None:
    out = tmp_path / "photos.zarr"
    out.mkdir()
    files = {out / PARTIAL: b"someone's", out / "notes.txt": b"data"}
    for path, data in files.items():
        path.write_bytes(data)
    with pytest.raises(ValueError, match="is not a ground-truth store; refusing to touch it"):
        run_photos_job(out, workers=1)
    assert {path: path.read_bytes() for path in files} == files


# ---------------------------------------------------------------------------------------
# Parallel paths give the inline result


def test_process_pool_matches_inline(photos_store, run_photos_job, tmp_path, same_store) -> None:
    out = tmp_path / "pool.zarr"
    summary = run_photos_job(out, workers=2)
    assert (summary.done, summary.computed_now) == (40, 40)
    same_store(out, photos_store[0])


def _stop(process: subprocess.Popen) -> None:
    """Terminate a process and everything it started; kill whatever ignores the request."""
    try:
        parent = psutil.Process(process.pid)
        family = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for member in family:
        try:
            member.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(family, timeout=10)
    for member in alive:
        member.kill()
    process.wait()


@pytest.fixture
def dask_cluster(tmp_path) -> Iterator[str]:
    """A real scheduler and one single-threaded worker on 127.0.0.1; the address.

    The worker runs without a nanny: one process less to start on a small machine."""
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes: list[subprocess.Popen] = []

    def start(module: str, *arguments: str) -> None:
        command = [sys.executable, "-m", f"distributed.cli.{module}", *arguments]
        processes.append(
            subprocess.Popen(
                command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )

    try:
        start("dask_scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
        worker = "--nworkers 1 --nthreads 1 --no-nanny --no-dashboard".split()
        start("dask_worker", address, *worker, "--local-directory", str(tmp_path))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            _stop(process)


def test_dask_cluster_matches_inline(
    dask_cluster, photos_store, run_photos_job, tmp_path, same_store
) -> None:
    out = tmp_path / "dask.zarr"
    summary = run_photos_job(out, dask_address=dask_cluster)
    assert (summary.done, summary.computed_now) == (40, 40)
    same_store(out, photos_store[0])


# ---------------------------------------------------------------------------------------
# Failing samples


@dataclass(frozen=True)
class FaultySignals(Source):
    """`n` random 3-channel signals of 64 values; sample `nan_at` holds one NaN and sample
    `short_at` (not 0) has 48 values. A real source, for failures no packaged one produces."""

    name: ClassVar[str] = "faulty-signals"
    modality: ClassVar[Modality] = "signal"

    n: int = 10
    nan_at: int = -1
    short_at: int = -1

    def samples(self) -> Iterator[Sample]:
        rng = np.random.default_rng(7)
        for i in range(self.n):
            signal = rng.normal(size=(3, 48 if i == self.short_at else 64))
            if i == self.nan_at:
                signal[1, 5] = np.nan
            split = "test" if i % 5 == 0 else "train"
            yield Sample(f"synthetic/{i:02d}", signal, i % 3, f"g{i % 4}", split)


def _run_synthetic(source: Source, out: Path, *, strict: bool = False) -> job.JobSummary:
    """The synthetic job: signal-sublevel in chunks of 4, inline."""
    recipe = get_recipe("signal-sublevel")
    return job.run(source, recipe, out, chunk_size=4, workers=1, strict=strict, progress=False)


def test_failing_samples_are_recorded_with_their_reason(tmp_path) -> None:
    summary = _run_synthetic(FaultySignals(nan_at=5, short_at=8), tmp_path / "s.zarr")
    store = GroundTruthStore.open(tmp_path / "s.zarr")
    status, errors = store["status"][:], store["errors"][:].tolist()
    failed = [5, 8]
    assert np.flatnonzero(status == FAILED).tolist() == failed
    assert "NaN" in errors[5]
    assert "shape" in errors[8] and "(3, 48)" in errors[8] and "(3, 64)" in errors[8]
    assert [e for i, e in enumerate(errors) if i not in failed] == [""] * 8
    assert (summary.samples, summary.done, summary.failed) == (10, 8, 2)
    assert summary.failures == {"synthetic/05": errors[5], "synthetic/08": errors[8]}
    pis = store["pis"][:]
    assert not pis[failed].any()
    good = np.flatnonzero(status == DONE)
    assert pis[good].any(axis=(1, 2, 3)).all()
    # Samples 4, 6 and 7 share the NaN's chunk: they went through the one-by-one fallback.
    inputs = store["inputs"][:]
    np.testing.assert_array_equal(pis[good], store.recipe.images_batch(inputs[good]))
    for i in good:
        for got, want in zip(store.diagrams(i), store.recipe.diagrams(inputs[i]), strict=True):
            np.testing.assert_array_equal(got, want)
    assert [len(d) for d in store.diagrams(5)] == [0, 0, 0]
    text = job.format_summary(summary)
    assert "done: 8  failed: 2" in text
    assert "(e.g. synthetic/05)" in text and "(e.g. synthetic/08)" in text


def test_computed_now_counts_only_computed_samples(tmp_path) -> None:
    summary = _run_synthetic(FaultySignals(short_at=8), tmp_path / "s.zarr")
    assert summary.computed_now == 9  # sample 8 was failed at planning, never computed


def test_strict_stops_at_a_compute_failure_and_keeps_work_resumable(tmp_path, same_store) -> None:
    source = FaultySignals(nan_at=5)
    out = tmp_path / "strict.zarr"
    with pytest.raises(job.JobFailed, match=r"sample synthetic/05 failed: .*NaN"):
        _run_synthetic(source, out, strict=True)
    store = GroundTruthStore.open(out)
    status = store["status"][:]
    assert not store.complete
    assert (status[4:8] == PENDING).all(), "the failing chunk must not be committed"
    for start in (0, 8):  # any other chunk is either whole or untouched
        assert len(set(status[start : start + 4].tolist())) == 1
    summary = _run_synthetic(source, out)
    assert (summary.done, summary.failed) == (9, 1)
    assert summary.computed_now == 10 - int((status == DONE).sum())
    _run_synthetic(source, tmp_path / "fresh.zarr")
    same_store(out, tmp_path / "fresh.zarr")


def _signal_folder(folder: Path, extra: dict[str, np.ndarray]) -> Path:
    """Five good `(3, 100)` `.npy` signals plus `extra`, in a fresh folder."""
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(5):
        np.save(folder / f"a{i}.npy", rng.normal(size=(3, 100)))
    for name, values in extra.items():
        np.save(folder / f"{name}.npy", values)
    return folder


def test_files_with_another_shape_fail_and_the_rest_is_computed(tmp_path, capsys) -> None:
    folder = _signal_folder(tmp_path / "signals", {"z_odd": np.ones((3, 80)) * [[1], [2], [3]]})
    out = tmp_path / "files.zarr"
    arguments = ["generate", "--source", "files", "--option", f"path={folder}"]
    exit_code = cli.main([*arguments, "--out", str(out), "--workers", "1", "--no-progress"])
    printed = capsys.readouterr().out
    assert exit_code == 0
    assert "samples: 6  done: 5  failed: 1" in printed
    assert "files/z_odd" in printed
    store = GroundTruthStore.open(out)
    assert store["ids"][:].tolist() == [f"files/a{i}" for i in range(5)] + ["files/z_odd"]
    assert store["status"][:].tolist() == [DONE] * 5 + [FAILED]
    assert store["errors"][5] == "shape (3, 80) differs from the data set's (3, 100)"
    pis = store["pis"][:]
    assert not pis[5].any() and pis[:5].any(axis=(1, 2, 3)).all()
    assert store.attrs["summary"]["failures"] == {"files/z_odd": store["errors"][5]}


def test_unreadable_and_nan_files_fail_alone_and_the_rest_is_computed(tmp_path, capsys) -> None:
    bad = np.zeros((3, 100))
    bad[0, 10] = np.nan
    folder = _signal_folder(tmp_path / "signals", {"m_nan": bad})
    (folder / "n_broken.npy").write_bytes(b"not a numpy file")
    out = tmp_path / "files.zarr"
    arguments = ["generate", "--source", "files", "--option", f"path={folder}"]
    assert cli.main([*arguments, "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    assert "samples: 7  done: 5  failed: 2" in capsys.readouterr().out
    store = GroundTruthStore.open(out)
    errors = dict(zip(store["ids"][:].tolist(), store["errors"][:].tolist(), strict=True))
    assert "NaN" in errors["files/m_nan"] and "(0, 10)" in errors["files/m_nan"]
    assert errors["files/n_broken"].startswith("cannot read n_broken.npy")
    assert store["status"][:].tolist() == [DONE] * 5 + [FAILED] * 2
