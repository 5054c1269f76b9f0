"""The one way pinet replaces files: complete, durable, or not at all.

Each file is written under a temporary name in its own directory, flushed and fsynced,
then renamed over its final name; the directory is fsynced after the renames. A reader sees
the old file or the complete new one, never a partial one, and a power cut after the call
returns loses nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path


def write_atomically(files: Mapping[Path, bytes]) -> None:
    """Replace every file of `files` (path -> bytes), renamed into place in the given order.

    Everything is written and fsynced before the first rename, so a failure while writing
    leaves every old file as it was; the renames themselves are atomic one by one.
    """
    temporary: dict[Path, Path] = {}
    try:
        for path, data in files.items():
            temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            temporary[path] = temp
            with open(temp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for path, temp in temporary.items():
            os.replace(temp, path)
    finally:
        for temp in temporary.values():
            temp.unlink(missing_ok=True)
    for directory in {path.parent for path in files}:
        _fsync_directory(directory)


def write_text_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8), atomically and durably."""
    write_atomically({path: text.encode()})


def _fsync_directory(directory: Path) -> None:
    """Make the renames durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
