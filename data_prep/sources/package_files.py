"""Data files that ship inside installed Python packages, found without importing them.

Several wheels carry real recordings (aeon's archives, HeartPy's pulse waves, GaitPy's walk)
but import dependencies we do not install. `importlib.util.find_spec` finds a package's
folder without running it, so its files can be read as files.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from pathlib import Path

from data_prep.sources.errors import SourceUnavailable


def locate_package_files(
    package: str, folder: Sequence[str], names: Iterable[str], install_command: str
) -> list[Path]:
    """The files `names` in the subfolder `folder` of the installed `package`, in order;
    SourceUnavailable, naming `install_command`, if the package or any file is absent."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SourceUnavailable(f"package {package!r} not installed; run `{install_command}`")
    root = Path(next(iter(spec.submodule_search_locations))).joinpath(*folder)
    paths = [root / name for name in names]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise SourceUnavailable(
            f"{root} lacks {', '.join(missing)}; reinstall with `{install_command}`"
        )
    return paths
