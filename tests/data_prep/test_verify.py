"""Verification: the job checks every chunk before marking a store complete and computes bad
ones again, and `python -m data_prep verify` finds bad chunks of an existing store and
requeues them, so that the generate command that made it repairs exactly those chunks.

Every store here is a copy of the small reference (40 photo crops in 5 chunks of 8); the
commands run through `cli.main` in this process.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import zarr

from data_prep import cli, job
from data_prep.lock import exclusive_writer, lock_path
from pinet.store import DONE, FAILED, PENDING, ChunkResult, GroundTruthStore

CHUNK = 8  # the reference job's chunk size


@pytest.fixture
def copy_of_reference(photos_store, tmp_path) -> Path:
    out = tmp_path / "photos.zarr"
    shutil.copytree(photos_store[0], out)
    return out


def verify(out: Path, capsys: pytest.CaptureFixture, *options: str) -> tuple[int, str]:
    """`python -m data_prep verify --out OUT`: the exit code and everything it printed."""
    code = cli.main(["verify", "--out", str(out), *options])
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def chunk_statuses(out: Path, chunk: int) -> np.ndarray:
    return GroundTruthStore.open(out)["status"][chunk * CHUNK : (chunk + 1) * CHUNK]


# ---------------------------------------------------------------------------------------
# The verify command


def requeue_first_chunk(out: Path) -> None:
    """Make the store incomplete as a job interrupted at its end leaves it: diagrams in
    per-chunk pieces, chunk 0 still to compute."""
    GroundTruthStore.open(out, writable=True).requeue([0])


@pytest.mark.parametrize("incomplete", [False, True], ids=["complete", "incomplete"])
def test_verify_a_good_store_exits_0_and_changes_nothing(
    copy_of_reference, incomplete, capsys, files_of
) -> None:
    if incomplete:
        requeue_first_chunk(copy_of_reference)
    before = files_of(copy_of_reference)
    code, printed = verify(copy_of_reference, capsys)
    assert code == 0, printed
    checked = 4 if incomplete else 5
    assert f"chunks checked: {checked} of 5 ({5 - checked} not computed yet)" in printed
    assert "bad chunks: 0" in printed
    assert ("rerun the generate command that made it" in printed) == incomplete
    assert files_of(copy_of_reference) == before
    assert not lock_path(copy_of_reference).exists()


def zero_pis(out: Path) -> None:
    zarr.open_group(out, mode="r+")["pis"][2 * CHUNK : 3 * CHUNK] = 0


def truncate_consolidated_diagrams(out: Path) -> None:
    values = zarr.open_group(out, mode="r+")["diagrams/values"]
    values.resize((values.shape[0] - 10, 2))


def truncate_a_pending_piece(out: Path) -> None:
    requeue_first_chunk(out)
    values = zarr.open_group(out, mode="r+")["pending_diagrams/000003/values"]
    values.resize((values.shape[0] - 5, 2))


def mark_a_done_sample_failed(out: Path) -> None:
    zarr.open_group(out, mode="r+")["status"][9] = FAILED


ROWS_MISSING = r"\d+ diagram rows where the counts add up to \d+"

# corruption, the chunk it spoils, what verify says of it (a pattern), the chunks to compute
CORRUPTIONS = {
    "zeroed PIs": (
        zero_pis,
        2,
        r"samples 16-23: the PIs of 8 of 8 re-rendered done samples differ from their "
        r"stored diagrams' rendering \(first: sample 16\)",
        [2],
    ),
    "truncated consolidated diagrams": (
        truncate_consolidated_diagrams,
        4,
        f"samples 32-39: {ROWS_MISSING}",
        [4],
    ),
    "truncated pending piece": (
        truncate_a_pending_piece,
        3,
        f"samples 24-31: {ROWS_MISSING}",
        [0, 3],
    ),
    "done sample marked failed": (
        mark_a_done_sample_failed,
        1,
        r"samples 8-15: statuses and errors disagree",
        [1],
    ),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_verify_requeues_a_bad_chunk_and_generate_repairs_it(
    corruption, copy_of_reference, photos_store, run_photos_job, capsys, same_store
) -> None:
    corrupt, bad, reason, recomputed = CORRUPTIONS[corruption]
    out = copy_of_reference
    corrupt(out)

    code, printed = verify(out, capsys)
    assert code == 1, printed
    assert "bad chunks: 1\n" in printed
    assert re.search(f"\n  chunk {bad}, {reason}", printed), printed
    assert f"requeued chunk {bad}: " in printed
    assert "rerun the generate command that made it" in printed
    store = GroundTruthStore.open(out)
    assert not store.complete
    assert (chunk_statuses(out, bad) == PENDING).all()
    assert store.pending_chunks() == recomputed

    summary = run_photos_job(out, workers=1)
    assert summary.computed_now == CHUNK * len(recomputed)
    assert summary.recomputed == {}  # requeued chunks are computed like pending ones
    same_store(out, photos_store[0])
    assert GroundTruthStore.open(out).complete
    assert not (out / "pending_diagrams").exists()


def test_verify_dry_run_reports_and_changes_nothing(copy_of_reference, capsys, files_of) -> None:
    zero_pis(copy_of_reference)
    before = files_of(copy_of_reference)
    code, printed = verify(copy_of_reference, capsys, "--dry-run")
    assert code == 1
    assert "  chunk 2, samples 16-23: the PIs of 8 of 8" in printed
    assert "nothing changed (--dry-run)" in printed
    assert files_of(copy_of_reference) == before


def test_verify_refuses_a_locked_store_and_what_is_not_a_store(
    copy_of_reference, tmp_path, capsys, files_of
) -> None:
    before = files_of(copy_of_reference)
    with exclusive_writer(copy_of_reference):
        code, printed = verify(copy_of_reference, capsys)
    assert code == 2
    assert f"{copy_of_reference} is locked by another writer (pid " in printed
    assert "wait for that process to finish, or stop it" in printed
    assert files_of(copy_of_reference) == before

    (tmp_path / "notes").mkdir()
    for path in (tmp_path / "absent.zarr", tmp_path / "notes"):
        code, printed = verify(path, capsys)
        assert code == 2
        assert f"error: no ground-truth store at {path}" in printed
        assert "Traceback" not in printed


# ---------------------------------------------------------------------------------------
# The job verifies before it marks a store complete


@pytest.fixture
def spoil_chunk_2(monkeypatch) -> Callable[[int], list[int]]:
    """`spoil_chunk_2(times)`: from now on, the first `times` commits of chunk 2 lose its PIs
    on the way to the disk (zeros land instead); returns the list of committed chunks."""

    def spoil(times: int) -> list[int]:
        commits: list[int] = []
        write_chunk = GroundTruthStore.write_chunk

        def lossy_write_chunk(store: GroundTruthStore, index: int, result: ChunkResult) -> None:
            commits.append(index)
            if index == 2 and commits.count(2) <= times:
                result = ChunkResult(np.zeros_like(result.pis), result.diagrams, result.errors)
            write_chunk(store, index, result)

        monkeypatch.setattr(GroundTruthStore, "write_chunk", lossy_write_chunk)
        return commits

    return spoil


def test_the_job_computes_a_bad_chunk_again_before_marking_the_store_complete(
    spoil_chunk_2, photos_store, run_photos_job, tmp_path, same_store
) -> None:
    commits = spoil_chunk_2(1)
    out = tmp_path / "photos.zarr"
    summary = run_photos_job(out, workers=1)
    assert sorted(commits) == [0, 1, 2, 2, 3, 4]
    assert list(summary.recomputed) == [2]
    assert summary.recomputed[2].startswith("samples 16-23: the PIs of 8 of 8 re-rendered")
    assert summary.computed_now == 40 + CHUNK
    assert "chunk 2 failed verification and was computed again" in job.format_summary(summary)
    same_store(out, photos_store[0])
    assert GroundTruthStore.open(out).attrs["summary"]["recomputed"] == {"2": summary.recomputed[2]}


def test_the_job_fails_rather_than_complete_a_store_whose_chunk_stays_bad(
    spoil_chunk_2, tmp_path, capsys
) -> None:
    spoil_chunk_2(2)
    out = tmp_path / "photos.zarr"
    arguments = "generate --source photos --limit 40 --chunk-size 8 --workers 1 --no-progress"
    assert cli.main([*arguments.split(), "--out", str(out)]) == 1
    error = capsys.readouterr().err
    assert "chunks failed verification (chunk 2, samples 16-23: the PIs of 8 of 8" in error
    assert "even after being computed again; the store is left incomplete" in error
    assert f"python -m data_prep verify --out {out}" in error
    store = GroundTruthStore.open(out)
    assert not store.complete
    assert (store["status"][:] == DONE).all()
    assert "diagrams" not in zarr.open_group(out, mode="r")
