"""The ground-truth store: the data set format `data_prep` writes and training reads
(`ground_truth`), the status of its samples (`status`), and its verification
(`verification`): a store is marked complete only once every chunk passes it."""

from pinet.store.ground_truth import (
    FORMAT,
    ChunkResult,
    GroundTruthStore,
    IncompleteStoreError,
    StoreMismatchError,
    StorePlan,
    VerificationError,
)
from pinet.store.status import DONE, FAILED, PENDING
from pinet.store.verification import bad_chunks

__all__ = [
    "DONE",
    "FAILED",
    "FORMAT",
    "PENDING",
    "ChunkResult",
    "GroundTruthStore",
    "IncompleteStoreError",
    "StoreMismatchError",
    "StorePlan",
    "VerificationError",
    "bad_chunks",
]
