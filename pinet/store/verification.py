"""Verification of a ground-truth store: nothing here trusts that a chunk was written whole.

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

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from pinet.store.status import DONE, FAILED, PENDING
from pinet.tda import PI_SIZE, Recipe

if TYPE_CHECKING:
    from pinet.store.ground_truth import GroundTruthStore

RENDERED_PER_CHUNK = 8  # done samples verification re-renders per chunk (see _to_render)


def bad_chunks(store: GroundTruthStore) -> dict[int, str]:
    """The chunks that fail verification, each with its reason.

    What is checked, and why re-rendering is sampled: the module docstring. A chunk with
    pending samples is not checked (the job computes it whole), unless the store claims
    to be complete.
    """
    read_diagrams = store.diagram_reader()
    bad = {}
    for chunk_index in range(store.n_chunks):
        try:
            reason = _chunk_problem(store, chunk_index, read_diagrams)
        except Exception as error:  # whatever cannot be read back is not verified
            reason = f"unreadable ({type(error).__name__}: {error})"
        if reason:
            start, stop = store.chunk_bounds(chunk_index)
            bad[chunk_index] = f"samples {start}-{stop - 1}: {reason}"
    return bad


def _chunk_problem(
    store: GroundTruthStore,
    chunk_index: int,
    read_diagrams: Callable[[int], tuple[np.ndarray, np.ndarray]],
) -> str:
    """Why the chunk fails verification, or "" if it passes."""
    start, stop = store.chunk_bounds(chunk_index)
    status = store["status"][start:stop]
    if (status == PENDING).any():
        return "samples pending in a complete store" if store.complete else ""
    errors = store["errors"][start:stop]
    if not np.array_equal(status, np.where(errors == "", DONE, FAILED)):
        return "statuses and errors disagree (a done sample with an error, or the reverse)"
    try:
        counts, values = read_diagrams(chunk_index)
    except KeyError:
        return "its diagrams are missing"
    n, channels = stop - start, store.channels
    if counts.shape != (n * channels,):
        return f"{counts.size} diagram counts for {n} samples of {channels} channels"
    if (counts < 0).any() or counts.sum() != len(values):
        return f"{len(values)} diagram rows where the counts add up to {counts.sum()}"
    pis = store["pis"][start:stop]
    done = status == DONE
    counts = counts.reshape(n, channels)
    if counts[~done].any() or pis[~done].any():
        return "a failed sample has diagrams or PIs"
    chosen = _to_render(pis, counts, done)
    differ = _renders_differing(store.recipe, pis, counts, values, chosen)
    if len(differ):
        return (
            f"the PIs of {len(differ)} of {len(chosen)} re-rendered done samples differ from "
            f"their stored diagrams' rendering (first: sample {start + differ[0]})"
        )
    return ""


def _renders_differing(
    recipe: Recipe, pis: np.ndarray, counts: np.ndarray, values: np.ndarray, chosen: np.ndarray
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
    rendered = recipe.render(diagrams).reshape(len(chosen), channels, PI_SIZE, PI_SIZE)
    return chosen[~(rendered == pis[chosen]).all(axis=(1, 2, 3))]


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
