"""Shared fixtures of the ground-truth job tests: one small reference store, store comparison.

The reference is computed inline (one process) once per session; the process pool, the
Dask cluster, the CLI and interrupted runs are all checked against such inline runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import zarr

from data_prep import job
from data_prep.sources.photos import PhotoCrops
from pinet.tda import get_recipe

# Attributes that legitimately differ between two runs of the same job.
RUN_ATTRIBUTES = frozenset({"created", "summary"})


def store_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the Zarr group at `path`, by its path in the group (`diagrams/values`)."""
    group = zarr.open_group(path, mode="r", zarr_format=3)
    return {
        name: member[...]
        for name, member in group.members(max_depth=None)
        if isinstance(member, zarr.Array)
    }


def store_files(path: Path) -> dict[str, tuple[int, bytes]]:
    """`{relative path: (mtime in ns, bytes)}` of every file under `path`."""
    return {
        file.relative_to(path).as_posix(): (file.stat().st_mtime_ns, file.read_bytes())
        for file in sorted(path.rglob("*"))
        if file.is_file()
    }


def assert_same_store(first: Path, second: Path) -> None:
    """Same arrays (names, dtypes, values) and same attributes but for the run's own."""
    arrays, expected = store_arrays(first), store_arrays(second)
    assert sorted(arrays) == sorted(expected)
    for name, values in arrays.items():
        assert values.dtype == expected[name].dtype, name
        assert values.shape == expected[name].shape, name
        nan_allowed = values.dtype.kind == "f"  # a failed sample's input may hold NaN
        assert np.array_equal(values, expected[name], equal_nan=nan_allowed), f"{name} differs"
    attrs = dict(zarr.open_group(first, mode="r").attrs)
    expected_attrs = dict(zarr.open_group(second, mode="r").attrs)
    assert {k: v for k, v in attrs.items() if k not in RUN_ATTRIBUTES} == {
        k: v for k, v in expected_attrs.items() if k not in RUN_ATTRIBUTES
    }


@pytest.fixture(scope="session")
def same_store() -> Callable[[Path, Path], None]:
    """`same_store(a, b)` asserts two stores hold identical arrays and job attributes."""
    return assert_same_store


@pytest.fixture(scope="session")
def files_of() -> Callable[[Path], dict[str, tuple[int, bytes]]]:
    """`files_of(path)`: every file under `path` with its mtime and bytes, to prove it untouched."""
    return store_files


@pytest.fixture(scope="session")
def photos_source() -> PhotoCrops:
    return PhotoCrops()


@pytest.fixture(scope="session")
def photos_job() -> dict[str, int]:
    """The small image job of these tests: 40 crops in chunks of 8 (5 chunks, both splits)."""
    return {"limit": 40, "chunk_size": 8}


@pytest.fixture(scope="session")
def run_photos_job(photos_source: PhotoCrops, photos_job: dict) -> Callable[..., job.JobSummary]:
    """Run the reference job (40 photo crops, image-raster) into `out`; keyword arguments
    choose how (workers, dask_address...)."""

    def run(out: Path, **how: object) -> job.JobSummary:
        recipe = get_recipe("image-raster")
        return job.run(photos_source, recipe, out, progress=False, **photos_job, **how)

    return run


@pytest.fixture(scope="session")
def photos_store(
    tmp_path_factory: pytest.TempPathFactory, run_photos_job: Callable[..., job.JobSummary]
) -> tuple[Path, job.JobSummary]:
    """The reference: the photos job computed inline. Never modify it."""
    out = tmp_path_factory.mktemp("reference") / "photos.zarr"
    return out, run_photos_job(out, workers=1)
