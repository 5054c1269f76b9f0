"""What every data source yields, and the contract a source implements."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from pinet.modality import Modality

Split = Literal["train", "test"]


@dataclass(frozen=True)
class Sample:
    """One input of a data set, with what training and evaluation need to know about it.

    `input` is `(C, T)` float for signals or `(C, H, W)` (uint8, or float in [0, 1]) for images.
    `group` is the unit that must never straddle train and test (a user, a photo).
    `error` says why the input could not be read (then `input` is empty): the job records
    such a sample as failed and goes on.
    """

    id: str
    input: np.ndarray
    label: int
    group: str
    split: Split
    error: str = ""


@dataclass(frozen=True)
class Source:
    """A named, parameterised, deterministic producer of samples.

    Subclasses are frozen dataclasses whose fields are the source's options (all
    JSON-serialisable scalars), so `params` records exactly how a data set was made.
    """

    name: ClassVar[str]
    modality: ClassVar[Modality]

    @property
    def params(self) -> dict[str, Any]:
        return asdict(self)

    def samples(self) -> Iterator[Sample]:
        """Yield every sample in a fixed order (the same order on every call)."""
        raise NotImplementedError
