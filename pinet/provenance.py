"""How an output was made: the versions of the libraries that made it, and when."""

from __future__ import annotations

import functools
import platform
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# The libraries whose versions can change a diagram, an image, a store or a model.
_RECORDED_PACKAGES = (
    "pinet",
    "numpy",
    "scipy",
    "numba",
    "ripser",
    "giotto-ph",
    "cripser",
    "gudhi",
    "persim",
    "zarr",
    "torch",
    "safetensors",
    "onnx",
    "onnxruntime",
)


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    versions = {"python": platform.python_version()}
    for package in _RECORDED_PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    revision = source_revision(Path(__file__))
    if revision:
        versions["pinet"] = f"{versions['pinet']} (git {revision})"
    return tuple(versions.items())


def source_revision(source: Path) -> str | None:
    """The git commit of the checkout that tracks the file `source`, with "+changes" when
    tracked files differ from it; None where no checkout tracks it (an installed wheel, or
    a virtual environment inside another project's checkout) or without git. A version
    number does not say which code ran from a checkout, installed or not; a commit does."""
    folder = source.parent
    try:
        _git(folder, "ls-files", "--error-unmatch", source.name)
        commit = _git(folder, "rev-parse", "--short=12", "HEAD")
        changed = _git(folder, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+changes" if changed else commit


def _git(folder: Path, *command: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *command],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout.strip()


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape our outputs, plus Python's (read once
    per process: looking up package metadata costs milliseconds per package)."""
    return dict(_versions())


def utc_now() -> str:
    """The current time as an ISO 8601 UTC timestamp, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")
