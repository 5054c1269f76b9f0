"""Which of the project's declared dependencies this machine lacks, all named at once.

A GPU machine lent for a few minutes runs the checks of `gpu_session.sh` from a checkout
that is not installed, on whatever packages its image holds. An import error names one
missing package per try; this names every one before a step needs it, from
`pyproject.toml`'s own list and what each installed package requires in turn (extras
included: uvicorn[standard]'s httptools, FastAPI's opentelemetry-api):

    python benchmarks/dependencies.py            # exit 1 and the list if any is missing
"""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def missing(requirements: list[str], seen: set[tuple[str, str]] | None = None) -> list[str]:
    """The requirements with no installed distribution, and those of what is installed
    (its own requirements and those its extras add), each named once."""
    seen = set() if seen is None else seen
    absent = []
    for requirement in map(Requirement, requirements):
        if not _applies(requirement, extra=""):
            continue
        try:
            version(requirement.name)
        except PackageNotFoundError:
            if (requirement.name, "") not in seen:
                absent.append(str(requirement))
            seen.add((requirement.name, ""))
            continue
        for extra in ("", *sorted(requirement.extras)):
            if (requirement.name, extra) not in seen:
                seen.add((requirement.name, extra))
                absent += missing(_required_by(requirement.name, extra), seen)
    return absent


def _required_by(name: str, extra: str) -> list[str]:
    """What the installed `name` requires on this machine (`extra` ""), or what its `extra`
    adds to that, markers dropped."""
    needed = []
    for requirement in map(Requirement, requires(name) or []):
        if _applies(requirement, extra) and not (extra and _applies(requirement, "")):
            requirement.marker = None
            needed.append(str(requirement))
    return needed


def _applies(requirement: Requirement, extra: str) -> bool:
    """Whether `requirement` holds on this machine for the extra `extra` ("": none)."""
    return requirement.marker is None or requirement.marker.evaluate({"extra": extra})


def main() -> int:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    absent = missing(project["dependencies"])
    if absent:
        print("missing:", ", ".join(absent))
        return 1
    print(f"all {len(project['dependencies'])} dependencies of {PYPROJECT.name} are installed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
