"""`python -m data_prep verify`: check an existing store as the job checks it before marking
it complete (`pinet.store.bad_chunks`), and requeue the bad chunks, so that running the
generate command that made the store again recomputes exactly those chunks and finalises.

It holds the store's lock (`data_prep.lock`) throughout: a store being written is refused,
not reported on half-written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_prep.lock import exclusive_writer
from pinet.store import GroundTruthStore, bad_chunks


@dataclass(frozen=True)
class Verification:
    """What `verify` found: the store, whether it was complete, how many chunks it has and
    how many of them are still to compute (not checked), the bad chunks with their reason,
    and whether they were requeued."""

    store: Path
    job: dict[str, Any]
    complete: bool
    chunks: int
    pending: int
    bad: dict[int, str]
    requeued: bool


def verify(out: str | Path, *, dry_run: bool = False) -> Verification:
    """Check every computed chunk of the store at `out`; requeue the bad ones unless `dry_run`.

    Raises `FileNotFoundError` or `ValueError` for anything that is not a ground-truth store,
    and `StoreLocked` if another process writes it.
    """
    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"no ground-truth store at {out}")
    with exclusive_writer(out):
        store = GroundTruthStore.open(out, writable=not dry_run)
        complete = store.complete
        pending = 0 if complete else len(store.pending_chunks())
        bad = bad_chunks(store)
        if bad and not dry_run:
            store.requeue(bad)
        return Verification(
            store=out,
            job=store.job,
            complete=complete,
            chunks=store.n_chunks,
            pending=pending,
            bad=bad,
            requeued=bool(bad) and not dry_run,
        )


def format_verification(verification: Verification) -> str:
    """The report: chunks checked, each bad chunk with its reason, and what to do next."""
    v = verification
    state = "complete" if v.complete else "incomplete"
    lines = [
        f"store: {v.store} ({state})",
        f"chunks checked: {v.chunks - v.pending} of {v.chunks} ({v.pending} not computed yet)",
        f"bad chunks: {len(v.bad)}",
        *(f"  chunk {chunk}, {reason}" for chunk, reason in sorted(v.bad.items())),
    ]
    job = v.job
    made_by = (
        f"source {job['source']['name']} {job['source']['params']}, recipe "
        f"{job['recipe']['name']}, limit {job['limit']}, chunk size {job['chunk_size']}"
    )
    if v.requeued:
        chunks = ", ".join(f"chunk {chunk}" for chunk in sorted(v.bad))
        lines.append(
            f"requeued {chunks}: their samples are pending and the store is not "
            "complete; rerun the generate command that made it to recompute exactly those "
            f"chunks ({made_by})"
        )
    elif v.bad:
        lines.append("nothing changed (--dry-run): run verify without it to requeue them")
    elif not v.complete:
        lines.append(f"to finish the store, rerun the generate command that made it ({made_by})")
    return "\n".join(lines)
