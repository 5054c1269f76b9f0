"""UEA BasicMotions: smartwatch accelerometer + gyroscope, 4 activities, 40 + 40 series of 6 x 100.

The `.ts` files ship inside the `aeon` wheel (`aeon/datasets/data/BasicMotions/`), read as
`aeon_archives` reads every bundled problem (`uea-ucr`, `dataset=BasicMotions`, holds the
same series); this source keeps its own name and ids, which its stores record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from data_prep.sources.aeon_archives import problem_series
from data_prep.sources.base import Sample, Source
from pinet.modality import Modality

# The `@classLabel` line of the files, sorted as problem_series sorts it: label i is CLASS_NAMES[i].
CLASS_NAMES = ("Badminton", "Running", "Standing", "Walking")


@dataclass(frozen=True)
class BasicMotions(Source):
    """The 80 BasicMotions series, train file first, in file order.

    input: `(6, 100)` float64 (accelerometer x/y/z then gyroscope x/y/z, 10 Hz for 10 s).
    label: index in CLASS_NAMES (0 Badminton, 1 Running, 2 Standing, 3 Walking). group: the
    sample id, as the files carry no subject. split: from the file. id: `basicmotions/train/007`.
    """

    name: ClassVar[str] = "basicmotions"
    modality: ClassVar[Modality] = "signal"

    def samples(self) -> Iterator[Sample]:
        for split, index, series, label in problem_series("BasicMotions"):
            sample_id = f"basicmotions/{split}/{index:03d}"
            yield Sample(sample_id, series, label, sample_id, split)
