"""The ground-truth data set format: written by `data_prep`, read by training and evaluation.

A store is a Zarr v3 group on disk:

- `inputs` `(N, C, ...)`: what the recipe was computed on (uint8 images or float32 signals);
- `pis` `(N, C, 50, 50)` float32, channel-first, SPEC 2.2 orientation;
- `diagrams/values` `(M, 2)` float64 and `diagrams/offsets` `(N*C + 1,)` int64: the finite
  diagram of sample i, channel c is `values[offsets[i*C + c] : offsets[i*C + c + 1]]`;
- `ids`, `labels`, `groups`, `split` ("train" / "test") `(N,)`;
- `status` `(N,)` int8 (`PENDING`, `DONE`, `FAILED`) and `errors` `(N,)` str (why it failed);
- attributes: the format, the job (recipe and source with their parameters), library
  versions, creation time, and once complete a summary.

Work is committed a chunk of samples at a time: the chunk's PIs, errors and diagrams are
written first and its `status` chunk last, and Zarr replaces each chunk file atomically,
so a job killed at any moment leaves a store whose committed chunks are whole (and, at
most, the temporary file of the write it was killed in: `discard_partial_writes`). Diagrams
are kept per chunk until every chunk is committed, then consolidated into one ragged array.
One process writes a store at a time (`data_prep.lock`); nothing here can tell a second
writer's chunks from the first's, which is why a store is verified, not trusted.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from pinet.provenance import library_versions, utc_now
from pinet.store.status import DONE, FAILED, PENDING
from pinet.store.verification import bad_chunks
from pinet.tda import PI_SIZE, Recipe, get_recipe

FORMAT = "pinet-ground-truth/1"
# Zarr's local store writes each file as `<stem>.<uuid4 hex>.partial`, then renames it.
_PARTIAL_WRITE = re.compile(r"\.[0-9a-f]{32}\.partial$")
_PENDING_DIAGRAMS = "pending_diagrams"
_CONSOLIDATED_CHUNK_ROWS = 1 << 20  # 16 MiB of (birth, death) pairs per chunk


@dataclass(frozen=True)
class StorePlan:
    """Everything a new store is created from: the job's identity and the planned samples.

    `job` identifies the work (recipe, source, limit, chunk size): resuming is allowed only
    with an identical job. `errors` holds a reason for samples already known to be unusable
    (wrong shape), and "" elsewhere.
    """

    job: dict[str, Any]
    inputs: np.ndarray
    ids: list[str]
    labels: np.ndarray
    groups: list[str]
    splits: list[str]
    errors: list[str]
    chunk_size: int


@dataclass(frozen=True)
class ChunkResult:
    """The computed part of one chunk: PIs, diagrams per sample per channel, failure reasons."""

    pis: np.ndarray
    diagrams: list[list[np.ndarray]]
    errors: list[str]


class IncompleteStoreError(ValueError):
    """A store whose creation was interrupted: it holds no computed work yet."""


class StoreMismatchError(ValueError):
    """An existing store was made by a different job; it is never overwritten."""


class VerificationError(RuntimeError):
    """Chunks failed verification, so the store was not marked complete; `chunks` maps each
    bad chunk to its reason."""

    def __init__(self, path: Path, chunks: Mapping[int, str]) -> None:
        self.chunks = dict(chunks)
        listed = "; ".join(f"chunk {c}, {reason}" for c, reason in sorted(self.chunks.items()))
        super().__init__(f"{path}: chunks failed verification ({listed})")


class GroundTruthStore:
    """A ground-truth store on disk; arrays are read lazily through Zarr."""

    def __init__(self, group: zarr.Group, path: Path) -> None:
        self._group = group
        self.path = path

    # -- creating and resuming -------------------------------------------------------------

    @staticmethod
    def discard_partial_writes(path: str | Path) -> None:
        """Delete the temporary files of writes a killed writer left in the store at `path`:
        a folder with the store's `zarr.json`, or holding nothing but such files (killed in
        its first write). Any other folder is left alone.

        Zarr writes each file under a temporary name and renames it into place, so a writer
        killed mid-write leaves that file behind: never part of the store, but listed among
        its members (Zarr warns of an unrecognised object), left forever by a resume, and,
        alone in the folder, enough for the job to refuse it as not a store. Only for the
        store's one writer, holding its lock: another writer's file in flight looks the same.
        """
        path = Path(path)
        if not path.is_dir():
            return
        if not (path / "zarr.json").is_file() and not all(map(_is_partial_write, path.iterdir())):
            return
        for leftover in path.rglob("*.partial"):
            if _is_partial_write(leftover):
                leftover.unlink(missing_ok=True)

    @classmethod
    def create(cls, path: str | Path, plan: StorePlan) -> GroundTruthStore:
        """Write a new store's plan (inputs, metadata, all samples pending).

        The `planned` attribute is set last: a store without it holds no computed work and
        is safely recreated.
        """
        path = Path(path)
        group = zarr.open_group(
            path, mode="w", zarr_format=3, attributes={"format": FORMAT, "planned": False}
        )
        n, channels = plan.inputs.shape[:2]
        chunk = plan.chunk_size
        sample_arrays = {
            "inputs": plan.inputs,
            "ids": np.array(plan.ids, dtype=str),
            "labels": np.asarray(plan.labels, dtype=np.int64),
            "groups": np.array(plan.groups, dtype=str),
            "split": np.array(plan.splits, dtype=str),
            "errors": np.array(plan.errors, dtype=str),
            "status": np.where(np.array(plan.errors, dtype=str) == "", PENDING, FAILED).astype(
                np.int8
            ),
        }
        for name, values in sample_arrays.items():
            array = group.create_array(
                name,
                shape=values.shape,
                # variable-length strings: the string type Zarr v3 specifies
                dtype=str if values.dtype.kind == "U" else values.dtype,
                chunks=(chunk, *values.shape[1:]),
            )
            array[...] = values
        group.create_array(
            "pis",
            shape=(n, channels, PI_SIZE, PI_SIZE),
            dtype=np.float32,
            chunks=(chunk, channels, PI_SIZE, PI_SIZE),
            fill_value=0.0,
        )
        group.attrs.update(
            {
                "format": FORMAT,
                "job": plan.job,
                "versions": library_versions(),
                "created": utc_now(),
                "n_samples": n,
                "channels": channels,
                "input_shape": list(plan.inputs.shape[1:]),
                "chunk_size": chunk,
            }
        )
        group.attrs["planned"] = True
        return cls(group, path)

    @classmethod
    def open(cls, path: str | Path, *, writable: bool = False) -> GroundTruthStore:
        """Open an existing store; refuses anything that is not a planned ground-truth store."""
        path = Path(path)
        if not (path / "zarr.json").is_file():
            raise FileNotFoundError(f"no ground-truth store at {path}")
        group = zarr.open_group(path, mode="r+" if writable else "r", zarr_format=3)
        if group.attrs.get("format") != FORMAT:
            raise ValueError(f"{path} is not a ground-truth store (format {FORMAT})")
        if not group.attrs.get("planned"):
            raise IncompleteStoreError(f"{path} was interrupted while being created")
        return cls(group, path)

    def check_job(self, job: Mapping[str, Any]) -> None:
        """Raise `StoreMismatchError` naming what differs if this store was made by another job."""
        existing = self.job
        differences = [
            f"{key}: store has {existing.get(key)!r}, requested {job.get(key)!r}"
            for key in sorted(set(existing) | set(job))
            if existing.get(key) != job.get(key)
        ]
        if differences:
            raise StoreMismatchError(
                f"{self.path} was made by a different job and is left untouched ("
                + "; ".join(differences)
                + "); choose another --out"
            )

    def pending_chunks(self) -> list[int]:
        """Indices of chunks with at least one sample still pending."""
        status = self._group["status"][:]
        pending = status == PENDING
        chunk = self.chunk_size
        return sorted({int(i) // chunk for i in np.flatnonzero(pending)})

    def chunk_bounds(self, chunk_index: int) -> tuple[int, int]:
        start = chunk_index * self.chunk_size
        return start, min(start + self.chunk_size, len(self))

    @property
    def n_chunks(self) -> int:
        return -(-len(self) // self.chunk_size)

    def write_chunk(self, chunk_index: int, result: ChunkResult) -> None:
        """Commit one chunk: data first, then its status (the commit marker)."""
        start, stop = self.chunk_bounds(chunk_index)
        previous_errors = self._group["errors"][start:stop]
        errors = np.array(
            [old or new for old, new in zip(previous_errors, result.errors, strict=True)],
            dtype=str,
        )
        flat = [d for per_sample in result.diagrams for d in per_sample]
        counts = np.array([len(d) for d in flat], dtype=np.int64)
        values = np.concatenate([np.asarray(d).reshape(-1, 2) for d in flat] or [np.empty((0, 2))])
        self._group["pis"][start:stop] = result.pis
        self._group["errors"][start:stop] = errors
        self._write_piece(chunk_index, counts, values)
        self._group["status"][start:stop] = np.where(errors == "", DONE, FAILED).astype(np.int8)

    def requeue(self, chunks: Collection[int]) -> None:
        """Make `chunks` pending again and the store incomplete, so that the job computes
        exactly those chunks anew and finalises (verifying again).

        Samples with a recorded failure stay failed: a planned failure cannot be read again
        without the source, and a recipe fails the same way every time. Consolidation reads
        only per-chunk pieces, so a consolidated store first gets back the pieces of its other
        chunks, and loses its consolidated arrays only once nothing needs them; statuses
        change last. Killed at any step, the store is one the job verifies and resumes.
        """
        self._group.attrs["complete"] = False
        if self._group.attrs.get("diagrams_consolidated"):
            read_diagrams = self.diagram_reader()
            for chunk_index in range(self.n_chunks):
                if chunk_index not in chunks:
                    self._write_piece(chunk_index, *read_diagrams(chunk_index))
            self._group.attrs["diagrams_consolidated"] = False
            del self._group["diagrams"]
        for chunk_index in chunks:
            start, stop = self.chunk_bounds(chunk_index)
            errors = self._group["errors"][start:stop]
            self._group["status"][start:stop] = np.where(errors == "", PENDING, FAILED).astype(
                np.int8
            )

    def finalise(self, summary: Mapping[str, Any]) -> None:
        """Verify every chunk, consolidate the per-chunk diagrams and mark the store complete
        (idempotent). Raises `VerificationError` and leaves the store incomplete if a chunk
        fails verification: requeue the bad chunks and compute them again."""
        if self.pending_chunks():
            raise RuntimeError("cannot finalise a store with pending chunks")
        bad = bad_chunks(self)
        if bad:
            raise VerificationError(self.path, bad)
        if not self._group.attrs.get("diagrams_consolidated"):
            self._consolidate_diagrams()
            self._group.attrs["diagrams_consolidated"] = True
        if _PENDING_DIAGRAMS in self._group:
            del self._group[_PENDING_DIAGRAMS]
        self._group.attrs.update({"summary": dict(summary), "complete": True})

    def _write_piece(self, chunk_index: int, counts: np.ndarray, values: np.ndarray) -> None:
        """Write one chunk's diagrams, as `_diagram_reader` returns them, as its pending piece."""
        piece = self._group.require_group(_PENDING_DIAGRAMS).create_group(
            f"{chunk_index:06d}", overwrite=True
        )
        _write_array(piece, "counts", counts)
        _write_array(piece, "values", values.astype(np.float64))

    def _consolidate_diagrams(self) -> None:
        pieces = self._group[_PENDING_DIAGRAMS]
        counts, values = [], []
        for chunk_index in range(self.n_chunks):
            piece = pieces[f"{chunk_index:06d}"]
            counts.append(piece["counts"][:])
            values.append(piece["values"][:])
        offsets = np.concatenate([[0], np.cumsum(np.concatenate(counts))]).astype(np.int64)
        diagrams = self._group.require_group("diagrams")
        _write_array(diagrams, "offsets", offsets, chunk_rows=_CONSOLIDATED_CHUNK_ROWS)
        _write_array(
            diagrams, "values", np.concatenate(values), chunk_rows=_CONSOLIDATED_CHUNK_ROWS
        )

    def diagram_reader(self) -> Callable[[int], tuple[np.ndarray, np.ndarray]]:
        """`read(chunk_index)`: one chunk's diagrams as `(counts, values)`, a count per
        (sample, channel) in that order and the `(birth, death)` rows they add up to; from the
        consolidated arrays once the store has them, from the chunk's pending piece before;
        KeyError if there are none. Consolidated arrays are read whole, once: a slice of them
        would decode a whole 16 MiB chunk per store chunk."""
        if not self._group.attrs.get("diagrams_consolidated"):

            def read_piece(chunk_index: int) -> tuple[np.ndarray, np.ndarray]:
                piece = self._group[_PENDING_DIAGRAMS][f"{chunk_index:06d}"]
                return piece["counts"][:], piece["values"][:]

            return read_piece

        @functools.cache
        def consolidated() -> tuple[np.ndarray, np.ndarray]:
            return self._group["diagrams/offsets"][:], self._group["diagrams/values"][:]

        def read_consolidated(chunk_index: int) -> tuple[np.ndarray, np.ndarray]:
            offsets, values = consolidated()
            start, stop = self.chunk_bounds(chunk_index)
            bounds = offsets[start * self.channels : stop * self.channels + 1]
            return np.diff(bounds), values[int(bounds[0]) : int(bounds[-1])]

        return read_consolidated

    # -- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._group.attrs["n_samples"])

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self._group.attrs)

    @property
    def job(self) -> dict[str, Any]:
        return dict(self._group.attrs["job"])

    @property
    def complete(self) -> bool:
        return bool(self._group.attrs.get("complete", False))

    @property
    def label(self) -> str:
        """A short name for the store in reports: its folder's name without `.zarr`."""
        return self.path.name.removesuffix(".zarr")

    @property
    def chunk_size(self) -> int:
        return int(self._group.attrs["chunk_size"])

    @property
    def channels(self) -> int:
        return int(self._group.attrs["channels"])

    @property
    def recipe(self) -> Recipe:
        """The recipe that made the PIs, rebuilt from its recorded name and parameters."""
        recipe = self.job["recipe"]
        return get_recipe(recipe["name"], recipe["params"])

    def __getitem__(self, name: str) -> zarr.Array:
        """A lazily read array: `inputs`, `pis`, `ids`, `labels`, `groups`, `split`, `status`…"""
        return self._group[name]

    def diagrams(self, index: int) -> list[np.ndarray]:
        """The finite `(k, 2)` diagram of each channel of sample `index` (complete stores)."""
        if not self._group.attrs.get("diagrams_consolidated"):
            raise ValueError(f"{self.path} is not complete: its diagrams are not consolidated yet")
        offsets = self._group["diagrams/offsets"]
        bounds = offsets[index * self.channels : (index + 1) * self.channels + 1]
        values = self._group["diagrams/values"][int(bounds[0]) : int(bounds[-1])]
        local = bounds - bounds[0]
        return [values[local[c] : local[c + 1]] for c in range(self.channels)]

    def usable_indices(self, split: str | None = None) -> np.ndarray:
        """Indices of samples whose ground truth was computed, optionally of one split."""
        keep = self._group["status"][:] == DONE
        if split is not None:
            keep &= self._group["split"][:] == split
        return np.flatnonzero(keep)


def _is_partial_write(path: Path) -> bool:
    return path.is_file() and _PARTIAL_WRITE.search(path.name) is not None


def _write_array(
    group: zarr.Group, name: str, values: np.ndarray, chunk_rows: int | None = None
) -> None:
    """Write an array, replacing any previous one; in one chunk (one atomic file) by default."""
    rows = len(values) if chunk_rows is None else min(len(values), chunk_rows)
    chunks = (max(1, rows), *(max(1, s) for s in values.shape[1:]))
    array = group.create_array(
        name, shape=values.shape, dtype=values.dtype, chunks=chunks, overwrite=True
    )
    if values.size:
        array[...] = values
