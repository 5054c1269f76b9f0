"""The ground-truth job: plan the samples, compute chunks in parallel, commit, verify, resume.

The parent process is the only writer, and holds the store's lock (`data_prep.lock`) from
planning to finalising, so a second job on the same store is refused. Workers (local
processes, or a Dask cluster) receive a chunk's inputs and return its PIs, diagrams and
failures; the parent commits each chunk as it arrives. Results land at fixed positions and
diagrams are consolidated in chunk order, so the store is identical whatever the completion
order, the number of workers or the number of interruptions. Before the store is marked
complete every chunk is verified (`pinet.store.bad_chunks`); bad chunks are computed
again once, and if they still fail the job fails instead of marking the store complete.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from data_prep.executors import bounded_map, executor_for, thread_limit
from data_prep.lock import exclusive_writer
from data_prep.sources.base import Sample, Source
from pinet.store import (
    DONE,
    FAILED,
    ChunkResult,
    GroundTruthStore,
    IncompleteStoreError,
    StorePlan,
    VerificationError,
)
from pinet.tda import PI_SIZE, Recipe, get_recipe

DEFAULT_CHUNK_SIZE = 128  # samples per task and per Zarr chunk: ~3.8 MB of 3-channel PIs


class JobFailed(RuntimeError):
    """The job stopped before completing the store (a sample failed under `--strict`, or a
    chunk failed verification twice); the committed work is kept and the job resumable."""


@dataclass(frozen=True)
class JobSummary:
    """What a run did: counts, failure reasons, chunks that failed verification and were
    computed again (with the reason), time and rate."""

    store: Path
    samples: int
    done: int
    failed: int
    failures: dict[str, str]
    computed_now: int
    seconds: float
    recomputed: dict[int, str]

    @property
    def samples_per_second(self) -> float:
        return self.computed_now / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "done": self.done,
            "failed": self.failed,
            "failures": self.failures,
            "computed_now": self.computed_now,
            "recomputed": {str(chunk): reason for chunk, reason in self.recomputed.items()},
            "seconds": round(self.seconds, 3),
            "samples_per_second": round(self.samples_per_second, 2),
        }


def job_identity(source: Source, recipe: Recipe, limit: int | None, chunk_size: int) -> dict:
    """What makes two runs the same job (and so allowed to resume each other)."""
    return {
        "recipe": {"name": recipe.name, "params": recipe.params},
        "source": {"name": source.name, "params": _jsonable(source.params)},
        "limit": limit,
        "chunk_size": chunk_size,
    }


def plan(source: Source, recipe: Recipe, limit: int | None, chunk_size: int) -> StorePlan:
    """Collect the samples (all, or `limit` spread evenly through the source's order).

    Spreading a limit, instead of taking the first samples, keeps every split and group
    represented in a small run. Unreadable samples, and samples whose shape differs from
    the first readable one, are planned as failed, with the reason.
    """
    if recipe.modality != source.modality:
        raise ValueError(
            f"recipe {recipe.name!r} takes {recipe.modality}s but source {source.name!r} "
            f"yields {source.modality}s"
        )
    if recipe.resolution != PI_SIZE:
        side = recipe.resolution
        raise ValueError(
            f"recipe {recipe.name!r} makes {side}x{side} PIs, and a ground-truth store holds "
            f"{PI_SIZE}x{PI_SIZE} ones, what PI-Net learns; compute that recipe's PIs in "
            "process instead (recipe.images_batch)"
        )
    samples = list(source.samples())
    if limit is not None and limit < len(samples):
        picks = np.unique(np.linspace(0, len(samples) - 1, limit).round().astype(int))
        samples = [samples[i] for i in picks]
    readable = [s for s in samples if not s.error]
    if not readable:
        raise ValueError(f"source {source.name!r} yielded no readable samples")
    shape = np.asarray(readable[0].input).shape
    dtype = _stored_dtype(readable[0])
    inputs = np.zeros((len(samples), *shape), dtype=dtype)
    errors = []
    for i, sample in enumerate(samples):
        value = np.asarray(sample.input)
        if sample.error:
            errors.append(sample.error)
            continue
        if value.shape != shape:
            errors.append(f"shape {value.shape} differs from the data set's {shape}")
            continue
        inputs[i] = value
        errors.append("")
    return StorePlan(
        job=job_identity(source, recipe, limit, chunk_size),
        inputs=inputs,
        ids=[s.id for s in samples],
        labels=np.array([s.label for s in samples], dtype=np.int64),
        groups=[s.group for s in samples],
        splits=[s.split for s in samples],
        errors=errors,
        chunk_size=chunk_size,
    )


def compute_chunk(
    recipe_name: str,
    recipe_params: dict[str, Any],
    inputs: np.ndarray,
    todo: np.ndarray,
    threads: int | None,
) -> ChunkResult:
    """PIs, diagrams and failure reasons for the samples of one chunk marked in `todo`.

    The whole chunk goes through the recipe's batch path; only if that rejects the batch
    are samples retried one by one, so one bad sample costs its chunk speed, not its result.
    """
    recipe = get_recipe(recipe_name, recipe_params)
    n, channels = inputs.shape[:2]
    pis = np.zeros((n, channels, PI_SIZE, PI_SIZE), dtype=np.float32)
    diagrams: list[list[np.ndarray]] = [[np.empty((0, 2))] * channels for _ in range(n)]
    errors = [""] * n
    with thread_limit(threads):
        indices = np.flatnonzero(todo)
        try:
            batch_diagrams, batch_pis = recipe.transform_batch(inputs[indices])
            pis[indices] = batch_pis
            for i, per_channel in zip(indices, batch_diagrams, strict=True):
                diagrams[i] = per_channel
        except ValueError:
            for i in indices:
                try:
                    diagrams[i] = recipe.diagrams(inputs[i])
                    pis[i] = recipe.images(inputs[i])
                except ValueError as error:
                    errors[i] = str(error)
    return ChunkResult(pis=pis, diagrams=diagrams, errors=errors)


def run(
    source: Source,
    recipe: Recipe,
    out: str | Path,
    *,
    limit: int | None = None,
    workers: int | None = None,
    dask_address: str | None = None,
    strict: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool = True,
) -> JobSummary:
    """Create or resume the store at `out`, compute every pending chunk, verify, finalise.

    Raises `StoreLocked` if another process writes `out`.
    """
    started = time.perf_counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_writer(out):
        store = _open_or_create(out, source, recipe, limit, chunk_size)
        if strict:
            _raise_on_planned_failure(store)
        if store.complete:  # a rerun of a finished job keeps the original summary
            return _summarise(store, 0, {}, time.perf_counter() - started)

        def compute(chunks: Sequence[int]) -> int:
            return _compute(store, chunks, workers, dask_address, strict, progress)

        computed_now = compute(store.pending_chunks())
        try:
            return _finalise(store, computed_now, {}, started)
        except VerificationError as error:
            bad = error.chunks
        store.requeue(bad)
        computed_now += compute(sorted(bad))
        try:
            return _finalise(store, computed_now, bad, started)
        except VerificationError as error:
            raise JobFailed(
                f"{error} even after being computed again; the store is left incomplete. "
                "A chunk that fails twice points at the disk or at a program writing the "
                f"store without its lock: check it with `python -m data_prep verify --out {out}`"
            ) from error


def _compute(
    store: GroundTruthStore,
    chunks: Sequence[int],
    workers: int | None,
    dask_address: str | None,
    strict: bool,
    progress: bool,
) -> int:
    """Compute and commit `chunks`; the number of samples computed."""
    if not chunks:
        return 0
    computed_now = 0
    remaining = sum(len(_todo(store, c)) for c in chunks)
    bar = tqdm(total=remaining, unit="sample", desc=store.path.name, disable=not progress)
    with bar, executor_for(workers, dask_address) as executor:
        recipe = store.job["recipe"]
        tasks = (_chunk_task(store, recipe, c, executor.threads_per_task) for c in chunks)
        for chunk_index, result in bounded_map(executor, compute_chunk, tasks):
            start, _ = store.chunk_bounds(chunk_index)
            if strict and any(result.errors):
                first = next(i for i, e in enumerate(result.errors) if e)
                sample_id = store["ids"][start + first]
                raise _strict_failure(sample_id, result.errors[first])
            computed = len(_todo(store, chunk_index))
            store.write_chunk(chunk_index, result)
            computed_now += computed
            bar.update(computed)
    return computed_now


def _finalise(
    store: GroundTruthStore, computed_now: int, recomputed: Mapping[int, str], started: float
) -> JobSummary:
    """Verify and mark the store complete with this run's summary (`VerificationError`)."""
    summary = _summarise(store, computed_now, recomputed, time.perf_counter() - started)
    store.finalise(summary.as_dict())
    return summary


def _open_or_create(
    out: Path, source: Source, recipe: Recipe, limit: int | None, chunk_size: int
) -> GroundTruthStore:
    """The store to resume at `out`, or a new one; never touches anything else found there.
    Called holding the store's lock, so a killed writer's unfinished files can go first."""
    GroundTruthStore.discard_partial_writes(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        try:
            store = GroundTruthStore.open(out, writable=True)
        except IncompleteStoreError:
            pass  # interrupted while planning: nothing computed yet, plan again
        except (ValueError, FileNotFoundError) as error:
            raise ValueError(
                f"{out} exists and is not a ground-truth store; refusing to touch it"
            ) from error
        else:
            store.check_job(job_identity(source, recipe, limit, chunk_size))
            return store
    return GroundTruthStore.create(out, plan(source, recipe, limit, chunk_size))


def _raise_on_planned_failure(store: GroundTruthStore) -> None:
    failed = np.flatnonzero(store["status"][:] == FAILED)
    if len(failed):
        i = int(failed[0])
        raise _strict_failure(store["ids"][i], store["errors"][i])


def _strict_failure(sample_id: str, error: str) -> JobFailed:
    return JobFailed(
        f"sample {sample_id} failed: {error} (--strict; committed work kept, rerun to resume)"
    )


def _chunk_task(
    store: GroundTruthStore, recipe: dict[str, Any], chunk_index: int, threads: int | None
) -> tuple:
    """`compute_chunk`'s arguments for one chunk: its inputs and which samples to compute."""
    start, stop = store.chunk_bounds(chunk_index)
    todo = np.zeros(stop - start, dtype=bool)
    todo[_todo(store, chunk_index)] = True
    inputs = store["inputs"][start:stop]
    return chunk_index, (recipe["name"], recipe["params"], inputs, todo, threads)


def _todo(store: GroundTruthStore, chunk_index: int) -> np.ndarray:
    """The samples of a chunk to compute, as positions in the chunk: every one without a
    recorded failure. A chunk is computed and rewritten whole, so a sample marked done in a
    chunk that is pending again is computed anew, not written back empty."""
    start, stop = store.chunk_bounds(chunk_index)
    return np.flatnonzero(store["errors"][start:stop] == "")


def _summarise(
    store: GroundTruthStore, computed_now: int, recomputed: Mapping[int, str], seconds: float
) -> JobSummary:
    status = store["status"][:]
    failed = np.flatnonzero(status == FAILED)
    errors = store["errors"]
    ids = store["ids"]
    return JobSummary(
        store=store.path,
        samples=len(store),
        done=int((status == DONE).sum()),
        failed=len(failed),
        failures={str(ids[int(i)]): str(errors[int(i)]) for i in failed},
        computed_now=computed_now,
        seconds=seconds,
        recomputed=dict(recomputed),
    )


def format_summary(summary: JobSummary, max_failures: int = 10) -> str:
    """A human summary: counts, rate, and the most common failure reasons with examples."""
    lines = [
        f"store: {summary.store}",
        f"samples: {summary.samples}  done: {summary.done}  failed: {summary.failed}",
        f"computed this run: {summary.computed_now} in {summary.seconds:.1f} s "
        f"({summary.samples_per_second:.1f} samples/s)",
    ]
    for chunk, reason in sorted(summary.recomputed.items()):
        lines.append(f"  chunk {chunk} failed verification and was computed again: {reason}")
    reasons = Counter(summary.failures.values())
    for reason, count in reasons.most_common(max_failures):
        example = next(i for i, r in summary.failures.items() if r == reason)
        lines.append(f"  {count} failed: {reason} (e.g. {example})")
    return "\n".join(lines)


def _stored_dtype(sample: Sample) -> np.dtype:
    """uint8 images stay uint8 (exact and 4x smaller); everything else is stored as float32."""
    return np.dtype(np.uint8) if np.asarray(sample.input).dtype == np.uint8 else np.dtype("float32")


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in params.items()}
