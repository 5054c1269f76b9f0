"""What the training tests share: reading a run's folder, comparing tensors, and a stdout
that interrupts a run between two epochs."""

from __future__ import annotations

import io
import json
from pathlib import Path

from safetensors.torch import load_file


def history(run_folder: Path) -> list[dict]:
    return [json.loads(line) for line in (run_folder / "metrics.jsonl").read_text().splitlines()]


def last_checkpoint(run_folder: Path) -> Path:
    return run_folder / (run_folder / "last").read_text().strip()


def without_timing(entries: list[dict]) -> list[dict]:
    return [{k: v for k, v in entry.items() if k != "seconds"} for entry in entries]


def assert_same_tensors(first: Path, second: Path) -> None:
    tensors, expected = load_file(first), load_file(second)
    assert sorted(tensors) == sorted(expected)
    for name, tensor in tensors.items():
        assert tensor.dtype == expected[name].dtype, name
        assert tensor.equal(expected[name]), f"{name} differs"


class Interrupted(Exception):
    """Stands for a Ctrl-C between two epochs."""


class InterruptAfterEpochs(io.StringIO):
    """A stdout that interrupts training once `epochs` epochs are saved: `train` with
    progress on prints each epoch's JSON line right after writing that epoch's checkpoint."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.remaining = epochs

    def write(self, text: str) -> int:
        if text.startswith("{"):
            self.remaining -= 1
            if self.remaining == 0:
                raise Interrupted
        return super().write(text)
