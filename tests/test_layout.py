"""The house's one-way data flow, checked on the source: sources -> recipes -> store ->
training -> checkpoint -> export -> service, with experiments and benchmarks on top.

- `pinet` (the library) imports neither `data_prep` nor `service`;
- `service` never imports `data_prep`, and `data_prep` never imports `service`;
- nothing in the packages or benchmarks imports `tests`, and nothing imports `experiments`;
- no code reads the developers' `shared` folder beside the repository, which users lack.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
# Top-level names each folder must never import.
FORBIDDEN = {
    "pinet": {"data_prep", "service", "benchmarks", "experiments", "tests"},
    "service": {"data_prep", "benchmarks", "experiments", "tests"},
    "data_prep": {"service", "benchmarks", "experiments", "tests"},
    "benchmarks": {"experiments", "tests"},
}


def imported_packages(path: Path) -> set[str]:
    """The top-level names of every module `path` imports (absolute imports)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_imports_run_one_way(folder: str) -> None:
    offenders = {
        str(path.relative_to(REPOSITORY)): sorted(imported_packages(path) & FORBIDDEN[folder])
        for path in sorted((REPOSITORY / folder).rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}


SHARED = "shared"  # the developers' folder beside the repository
PARENT_SHARED = "/".join(("..", SHARED))


def names_the_shared_folder(path: Path) -> bool:
    """Whether a string in `path` is the folder name "shared" or a path through it."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return any(
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and (node.value == SHARED or PARENT_SHARED in node.value)
        for node in ast.walk(tree)
    )


def test_no_code_reads_outside_the_repository() -> None:
    folders = ("pinet", "service", "data_prep", "benchmarks", "tests")
    readers = [
        str(path.relative_to(REPOSITORY))
        for folder in folders
        for path in (REPOSITORY / folder).rglob("*.py")
        if path != Path(__file__) and names_the_shared_folder(path)
    ]
    assert readers == []


def test_the_service_never_loads_data_prep() -> None:
    """Not even indirectly: build the app and list what got imported."""
    code = (
        "import sys, service.app, service.__main__; "
        "service.app.create_app(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'data_prep'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPOSITORY, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
