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
so a job killed at any moment leaves a store whose committed chunks are whole. Diagrams
are kept per chunk until every chunk is committed, then consolidated into one ragged array.
One process writes a store at a time (`data_prep.lock`); nothing here can tell a second
writer's chunks from the first's, which is why a store is verified, not trusted.

A store is marked complete only once every chunk passes `bad_chunks`: statuses agree with
errors; the chunk's diagrams exist, with one count per (sample, channel) and as many rows as
the counts add up to; failed samples have neither diagrams nor PIs; and the PIs of done
samples are bit for bit the recipe's rendering of their stored diagrams (the job stores
exactly `recipe.render` of them, and an image does not depend on the batch it is rendered
in: checked with every recipe). Rendering is most of what the sublevel recipes cost, so
re-rendering every done sample costs 0.83-0.86 of computing it (one thread, `--source photos
--limit 2000` with image-raster and `--source hapt` with signal-sublevel; 0.11 with
image-cubical). Each chunk therefore re-renders a deterministic sample (`_to_render`:
`RENDERED_PER_CHUNK` done samples spread evenly, plus every one whose PIs look wrong at a
glance). Measured as the job runs it, reading every chunk back, on one thread: photos 0.22 s
(1.0 s re-rendering everything) and hapt (4,705 windows) 0.36 s (1.4 s), against 5.4 s and
7.0 s for the jobs themselves with 2 workers, plus 0.8 s once per process to load the
compiled rendering code where the chunks were computed by other processes. It catches what
corrupts a chunk in practice: PI chunks lost or zeroed, diagrams missing or truncated, PIs
and diagrams of different origin.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from pinet.provenance import library_versions, utc_now
from pinet.tda import PI_SIZE, Recipe, get_recipe

FORMAT = "pinet-ground-truth/1"
PENDING, DONE, FAILED = 0, 1, 2
_PENDING_DIAGRAMS = "pending_diagrams"
_CONSOLIDATED_CHUNK_ROWS = 1 << 20  # 16 MiB of (birth, death) pairs per chunk
RENDERED_PER_CHUNK = 8  # done samples verification re-renders per chunk (see _to_render)


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
            read_diagrams = self._diagram_reader()
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
        bad = self.bad_chunks()
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

    # -- verifying -------------------------------------------------------------------------

    def _diagram_reader(self) -> Callable[[int], tuple[np.ndarray, np.ndarray]]:
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

    def bad_chunks(self) -> dict[int, str]:
        """The chunks that fail verification, each with its reason.

        What is checked, and why re-rendering is sampled: the module docstring. A chunk with
        pending samples is not checked (the job computes it whole), unless the store claims
        to be complete.
        """
        read_diagrams = self._diagram_reader()
        bad = {}
        for chunk_index in range(self.n_chunks):
            try:
                reason = self._chunk_problem(chunk_index, read_diagrams)
            except Exception as error:  # whatever cannot be read back is not verified
                reason = f"unreadable ({type(error).__name__}: {error})"
            if reason:
                start, stop = self.chunk_bounds(chunk_index)
                bad[chunk_index] = f"samples {start}-{stop - 1}: {reason}"
        return bad

    def _chunk_problem(
        self, chunk_index: int, read_diagrams: Callable[[int], tuple[np.ndarray, np.ndarray]]
    ) -> str:
        """Why the chunk fails verification, or "" if it passes."""
        start, stop = self.chunk_bounds(chunk_index)
        status = self._group["status"][start:stop]
        if (status == PENDING).any():
            return "samples pending in a complete store" if self.complete else ""
        errors = self._group["errors"][start:stop]
        if not np.array_equal(status, np.where(errors == "", DONE, FAILED)):
            return "statuses and errors disagree (a done sample with an error, or the reverse)"
        try:
            counts, values = read_diagrams(chunk_index)
        except KeyError:
            return "its diagrams are missing"
        n, channels = stop - start, self.channels
        if counts.shape != (n * channels,):
            return f"{counts.size} diagram counts for {n} samples of {channels} channels"
        if (counts < 0).any() or counts.sum() != len(values):
            return f"{len(values)} diagram rows where the counts add up to {counts.sum()}"
        pis = self._group["pis"][start:stop]
        done = status == DONE
        counts = counts.reshape(n, channels)
        if counts[~done].any() or pis[~done].any():
            return "a failed sample has diagrams or PIs"
        chosen = _to_render(pis, counts, done)
        differ = self._renders_differing(pis, counts, values, chosen)
        if len(differ):
            return (
                f"the PIs of {len(differ)} of {len(chosen)} re-rendered done samples differ from "
                f"their stored diagrams' rendering (first: sample {start + differ[0]})"
            )
        return ""

    def _renders_differing(
        self, pis: np.ndarray, counts: np.ndarray, values: np.ndarray, chosen: np.ndarray
    ) -> np.ndarray:
        """Render the diagrams of the chunk's samples `chosen` again: those of them whose
        stored PIs differ from that rendering in any bit."""
        channels = counts.shape[1]
        rows = np.concatenate([[0], np.cumsum(counts.ravel())])
        diagrams = [
            values[rows[i * channels + c] : rows[i * channels + c + 1]]
            for i in chosen
            for c in range(channels)
        ]
        rendered = self.recipe.render(diagrams).reshape(len(chosen), channels, PI_SIZE, PI_SIZE)
        return chosen[~(rendered == pis[chosen]).all(axis=(1, 2, 3))]

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


def _to_render(pis: np.ndarray, counts: np.ndarray, done: np.ndarray) -> np.ndarray:
    """The chunk's samples that verification renders again: `RENDERED_PER_CHUNK` done samples
    spread evenly (the first and last included), and every done sample with a channel whose
    PI looks wrong at a glance: all zero though its diagram is not empty, not zero though it
    is, or with a maximum other than exactly 0 or 1 (each image is divided by its maximum)."""
    peaks = pis.max(axis=(2, 3))
    odd = (~np.isin(peaks, (0.0, 1.0)) | ((peaks == 0) != (counts == 0))).any(axis=1)
    done_indices = np.flatnonzero(done)
    spread = np.linspace(0, len(done_indices) - 1, min(RENDERED_PER_CHUNK, len(done_indices)))
    return np.union1d(done_indices[spread.round().astype(int)], np.flatnonzero(done & odd))


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
