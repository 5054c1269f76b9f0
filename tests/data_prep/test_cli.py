"""`python -m data_prep generate`: refusals, `--strict`, one writer per store, and resuming
after `kill -9` at any moment (planning, computing, with a process pool) to the store an
uninterrupted run makes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pytest
import zarr

from data_prep import cli, job
from data_prep.lock import lock_path
from data_prep.sources.hapt import HaptWindows
from pinet.store import DONE, GroundTruthStore, IncompleteStoreError
from pinet.tda import get_recipe

PHOTOS = "--source photos --limit 40 --chunk-size 8 --workers 1 --no-progress".split()
# 200 HAPT windows in 13 chunks (the last one short): seconds of work, time to interrupt it.
HAPT = "--source hapt --limit 200 --chunk-size 16 --no-progress".split()


def generate(*arguments: str | Path) -> list[str]:
    return [sys.executable, "-m", "data_prep", "generate", *map(str, arguments)]


# ---------------------------------------------------------------------------------------
# Refusals. Each start of the CLI costs seconds of imports, so three commands run as real
# subprocesses, concurrently, and the others through the same `main` in this process, first:
# several commands are refused the same store, and each takes its lock while it looks.


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Refusals:
    results: dict[str, Finished]
    root: Path
    before: dict[str, dict]
    after: dict[str, dict]


SUBPROCESS_COMMANDS = frozenset({"recipe", "not-a-store", "unknown-source"})


def run_in_process(arguments: list[str | Path]) -> Finished:
    """`main` as the console script runs it: the exit code, and what it printed."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = cli.main(["generate", *map(str, arguments)])
        except SystemExit as exit_:  # argparse's usage errors
            code = exit_.code
    return Finished(code, stdout.getvalue(), stderr.getvalue())


@pytest.fixture(scope="module")
def refusals(photos_store, tmp_path_factory, files_of) -> Refusals:
    root = tmp_path_factory.mktemp("refusals")
    existing = root / "photos.zarr"
    shutil.copytree(photos_store[0], existing)
    notes = root / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("not a store\n")
    signals = root / "signals"
    signals.mkdir()
    for i in range(3):
        np.save(signals / f"a{i}.npy", np.sin(np.arange(100.0) * (i + 1))[None].repeat(3, 0))
    np.save(signals / "z_odd.npy", np.ones((3, 80)))
    files = ["--source", "files", "--option", f"path={signals}", "--workers", "1", "--no-progress"]
    commands: dict[str, list[str | Path]] = {
        "recipe": [*PHOTOS, "--recipe", "image-cubical", "--out", existing],
        "source": [*PHOTOS, "--option", "seed=1", "--out", existing],
        "limit": [*PHOTOS, "--limit", "39", "--out", existing],
        "not-a-store": [*PHOTOS, "--out", notes],
        "unknown-source": ["--source", "nope", "--out", root / "unknown-source"],
        "unknown-option": [*PHOTOS, "--option", "colour=red", "--out", root / "unknown-option"],
        "unknown-recipe": [*PHOTOS, "--recipe", "image-magic", "--out", root / "unknown-recipe"],
        "modality": [*PHOTOS, "--recipe", "signal-sublevel", "--out", root / "modality"],
        "recipe-option": [*PHOTOS, "--recipe-option", "spred=0.1", "--out", root / "recipe-option"],
        "recipe-value": [
            *PHOTOS,
            "--recipe",
            "image-cubical",
            "--recipe-option",
            "homology_dimensions=2",
            "--out",
            root / "recipe-value",
        ],
        "resolution": [*files, "--recipe", "signal-sublevel-tpkd", "--out", root / "resolution"],
        "strict": [*files, "--strict", "--out", root / "strict"],
    }
    before = {"existing": files_of(existing), "notes": files_of(notes)}
    results = {
        name: run_in_process(arguments)
        for name, arguments in commands.items()
        if name not in SUBPROCESS_COMMANDS
    }
    processes = {
        name: subprocess.Popen(
            generate(*commands[name]), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name in sorted(SUBPROCESS_COMMANDS)
    }
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=120)
        results[name] = Finished(process.returncode, stdout, stderr)
    after = {"existing": files_of(existing), "notes": files_of(notes)}
    assert sorted(p.name for p in root.iterdir()) == ["notes", "photos.zarr", "signals", "strict"]
    return Refusals(results, root, before, after)


@pytest.mark.parametrize(
    ("command", "difference"),
    [
        ("recipe", "recipe: store has {'name': 'image-raster'"),
        ("source", "source: store has {'name': 'photos', 'params': {'seed': 0"),
        ("limit", "limit: store has 40, requested 39"),
    ],
)
def test_a_store_of_another_job_is_refused_and_left_untouched(
    refusals, command, difference
) -> None:
    result = refusals.results[command]
    assert result.returncode == 2
    assert "made by a different job and is left untouched" in result.stderr
    assert difference in result.stderr
    assert "Traceback" not in result.stderr
    assert refusals.after["existing"] == refusals.before["existing"]


def test_a_directory_that_is_not_a_store_is_refused_and_left_alone(refusals) -> None:
    result = refusals.results["not-a-store"]
    assert result.returncode == 2
    assert "is not a ground-truth store; refusing to touch it" in result.stderr
    assert "Traceback" not in result.stderr
    assert refusals.after["notes"] == refusals.before["notes"]


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("unknown-source", "argument --source: invalid choice: 'nope'"),
        ("unknown-option", "source 'photos' has no option colour; valid options: seed,"),
        ("unknown-recipe", "argument --recipe: invalid choice: 'image-magic'"),
        ("modality", "recipe 'signal-sublevel' takes signals but source 'photos' yields images"),
        ("recipe-option", "recipe 'image-raster' has no parameter(s) spred; its parameters are"),
        ("recipe-value", "homology_dimensions"),
        ("resolution", "recipe 'signal-sublevel-tpkd' makes 64x64 PIs, and a ground-truth store"),
    ],
)
def test_bad_requests_exit_2_with_a_message_and_write_nothing(refusals, command, message) -> None:
    result = refusals.results[command]
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (refusals.root / command).exists()


def test_strict_exits_1_naming_the_failed_sample(refusals) -> None:
    result = refusals.results["strict"]
    assert result.returncode == 1
    assert "sample files/z_odd failed: shape (3, 80) differs" in result.stderr
    assert "Traceback" not in result.stderr


def test_recipe_options_make_the_store_and_are_recorded_in_it(tmp_path) -> None:
    """`--recipe-option` values are read as JSON: the store's PIs are the recipe's with
    them, and its job records them beside the defaults it kept."""
    out = tmp_path / "spread.zarr"
    options = ["--recipe-option", "spread=0.1", "--recipe-option", "float32_filtration=false"]
    result = run_in_process([*PHOTOS, "--limit", "8", *options, "--out", out])
    assert result.returncode == 0, result.stderr
    store = GroundTruthStore.open(out)
    recipe = get_recipe("image-raster", {"spread": 0.1, "float32_filtration": False})
    assert store.attrs["job"]["recipe"] == {"name": "image-raster", "params": recipe.params}
    inputs, pis = store["inputs"][:], store["pis"][:]
    np.testing.assert_array_equal(pis, recipe.images_batch(inputs).astype(pis.dtype))
    assert recipe.params != get_recipe("image-raster").params


# ---------------------------------------------------------------------------------------
# One writer per store


def lock_holder(out: Path) -> int | None:
    """The pid recorded in the store's lock file, or None (no file, or being written)."""
    try:
        return json.loads(lock_path(out).read_text())["pid"]
    except (FileNotFoundError, ValueError):
        return None


def test_a_second_writer_is_refused_while_the_first_holds_the_store(
    photos_store, tmp_path, same_store
) -> None:
    out = tmp_path / "photos.zarr"
    first = subprocess.Popen(
        generate(*PHOTOS, "--out", out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(lambda: lock_holder(out) == first.pid, first)
        second = run_in_process([*PHOTOS, "--out", out])
        stdout, stderr = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 2
    holder = f"pid {first.pid} on host {socket.gethostname()} since "
    assert f"error: {out} is locked by another writer ({holder}" in second.stderr
    assert f"data_prep generate {shlex.join(PHOTOS)} --out {out}); two writers" in second.stderr
    assert "wait for that process to finish, or stop it, then run this command again" in (
        second.stderr
    )
    assert "Traceback" not in second.stderr and not second.stdout
    assert first.returncode == 0, stderr
    assert "computed this run: 40 " in stdout
    same_store(out, photos_store[0])
    assert not lock_path(out).exists()


# ---------------------------------------------------------------------------------------
# kill -9 at any moment, then the same command again


def wait_until(condition: Callable[[], bool], process: subprocess.Popen) -> None:
    """Poll `condition` while `process` runs; fail if it ends first or after a minute."""
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, "the job ended before it could be interrupted"
        assert time.monotonic() < deadline, "timed out waiting for the job"
        time.sleep(0.005)


def statuses(out: Path) -> np.ndarray | None:
    """The store's status array as it is on disk now, or None before it exists."""
    try:
        return zarr.open_array(out / "status", mode="r")[:]
    except FileNotFoundError:
        return None


def some_chunk_done(out: Path) -> bool:
    status = statuses(out)
    return status is not None and bool((status == DONE).any())


@pytest.fixture
def start_quiet() -> Iterator[Callable[[list[str]], subprocess.Popen]]:
    """`start_quiet(command)`: a subprocess without output, killed at teardown if it runs."""
    processes: list[subprocess.Popen] = []

    def start(command: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


# Chunks of 2 windows: 100 commits make the computing phase last long enough for a kill to
# land inside it; with 16 an idle machine could finish all 200 windows between two polls.
KILLABLE_CHUNK_SIZE = 2


def test_resume_after_kill_gives_the_uninterrupted_store(tmp_path, start_quiet, same_store) -> None:
    out = tmp_path / "hapt.zarr"
    options = ("--source", "hapt", "--limit", "200", "--chunk-size", str(KILLABLE_CHUNK_SIZE))
    command = generate(*options, "--no-progress", "--workers", "1", "--out", out)

    # Killed while planning: the store's root exists but its plan is not written.
    planning = start_quiet(command)
    wait_until((out / "zarr.json").exists, planning)
    kill(planning)
    with pytest.raises(IncompleteStoreError):
        GroundTruthStore.open(out)

    # Killed while computing: some chunks committed, the rest pending.
    computing = start_quiet(command)
    wait_until(lambda: some_chunk_done(out), computing)
    kill(computing)
    done = int((statuses(out) == DONE).sum())
    assert 0 < done < 200
    assert not json.loads((out / "zarr.json").read_text())["attributes"].get("complete")

    # The killed job's lock file is left behind, naming it; its lock went with it.
    assert lock_holder(out) == computing.pid
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert f"computed this run: {200 - done} " in finished.stdout
    assert not lock_path(out).exists()
    assert not list(out.rglob("*.partial"))  # what the kills left half written is gone

    reference = tmp_path / "reference.zarr"
    recipe = get_recipe("signal-sublevel")
    job.run(
        HaptWindows(),
        recipe,
        reference,
        limit=200,
        chunk_size=KILLABLE_CHUNK_SIZE,
        workers=1,
        progress=False,
    )
    same_store(out, reference)
    assert GroundTruthStore.open(out).complete


def running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def survivors(processes: list[psutil.Process], deadline_s: float = 20.0) -> list[psutil.Process]:
    """The processes still running once every one of them has exited or sat idle (no CPU
    used) for a second: with their parent dead, an idle one is blocked for good. A worker
    still importing when the job was killed counts as neither until its imports end."""
    deadline = time.monotonic() + deadline_s
    last_cpu: dict[int, float] = {}
    busy_at: dict[int, float] = {}
    while True:
        now = time.monotonic()
        alive = [p for p in processes if running(p)]
        for process in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                cpu = sum(process.cpu_times()[:2])
                if last_cpu.get(process.pid) != cpu:
                    last_cpu[process.pid], busy_at[process.pid] = cpu, now
        if now > deadline or all(now - busy_at.get(p.pid, now) >= 1.0 for p in alive):
            # an idle resource tracker exits just after the last worker: a moment for it
            _, alive = psutil.wait_procs(alive, timeout=1)
            return [p for p in alive if running(p)]
        time.sleep(0.1)


def test_killing_a_pool_job_leaves_no_worker_behind(tmp_path, start_quiet) -> None:
    out = tmp_path / "hapt.zarr"
    process = start_quiet(generate(*HAPT, "--workers", "2", "--out", out))
    family: list[psutil.Process] = []
    try:
        wait_until(lambda: some_chunk_done(out), process)
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            family = psutil.Process(process.pid).children(recursive=True)
        kill(process)
    assert len(family) >= 2  # the two workers (and the pool's resource tracker)
    left = survivors(family)
    for orphan in left:  # started by this test: end them whatever the verdict
        orphan.kill()
    assert not left, f"{len(left)} of the job's {len(family)} processes outlived it"
