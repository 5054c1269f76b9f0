"""One writer per store: an exclusive OS lock that whatever modifies a store holds throughout
(`generate` from planning to finalising, `verify`).

The lock is `flock(LOCK_EX | LOCK_NB)` on `<store>.lock`, a file next to the store directory.
Not inside it: `GroundTruthStore.create` opens the group with mode "w", which empties the
store directory and would delete a lock file there under its holder.

- The kernel releases the lock when its holder exits, however it exits (`kill -9`
  included), so a lock file left behind never blocks a rerun: only the lock on the file
  counts, never its existence. A clean exit also removes the file.
- A second writer is refused at once; the holder writes its pid, host, start time and
  command line into the file, so the refusal says who holds the store.
- Across machines sharing a file system it holds as far as the OS allows: on Linux, `flock`
  on NFS is emulated with POSIX byte-range locks, which NFS (v4, or v3 with lockd) takes on
  the server, so writers on different machines exclude each other. A file system without
  lock support (NFS mounted `nolock`, some FUSE file systems) excludes writers of one
  machine only. With that emulation a process loses its lock when it closes any descriptor
  of the file, so the holder never opens the lock file a second time.

The file is removed while still locked, and a writer keeps a lock only if the path still
names the file it locked; otherwise it locks afresh. So a writer that opened the file just
before its holder removed it cannot end up holding the old file while another holds the new
one.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import socket
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from pinet.provenance import utc_now

_HOLDER_BYTES = 64 * 1024  # more than any holder record


class StoreLocked(RuntimeError):
    """Another process is writing the store; nothing was touched."""


def lock_path(store: str | Path) -> Path:
    """The lock file of `store`: `<store>.lock` beside it (symlinks resolved, so every path
    to one store names one lock)."""
    store = Path(store).resolve()
    return store.with_name(f"{store.name}.lock")


@contextmanager
def exclusive_writer(store: str | Path) -> Iterator[None]:
    """Hold the lock of `store` for the duration of the block; `StoreLocked` if another
    process holds it. The folder that will hold the store must exist."""
    path = lock_path(store)
    descriptor = _acquire(path, Path(store))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # while still locked: see the module docstring
        os.close(descriptor)


def _acquire(path: Path, store: Path) -> int:
    """A descriptor of the lock file, locked by this process, with this process recorded."""
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        with ExitStack() as on_failure:
            on_failure.callback(os.close, descriptor)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(descriptor, _HOLDER_BYTES, 0)
                raise StoreLocked(_refusal(store, path, holder)) from None
            if _names(path, descriptor):
                _record_holder(descriptor)
                on_failure.pop_all()
                return descriptor
        # not returned: its holder removed the file as we opened it; lock the current one


def _record_holder(descriptor: int) -> None:
    """Write who holds the lock into the lock file, for the refusal of the next writer."""
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": utc_now(),
        "command": shlex.join(sys.orig_argv),
    }
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, json.dumps(record).encode(), 0)


def _names(path: Path, descriptor: int) -> bool:
    """Whether `path` still names the file open as `descriptor`."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (current.st_dev, current.st_ino) == (opened.st_dev, opened.st_ino)


def _refusal(store: Path, path: Path, holder: bytes) -> str:
    """Why the store cannot be written now, who holds it, and what to do."""
    try:
        record = json.loads(holder)
        who = (
            f"pid {record['pid']} on host {record['host']} since {record['since']}, "
            f"running: {record['command']}"
        )
    except (ValueError, KeyError, TypeError):  # the holder is writing its record right now
        who = f"a process that has not recorded itself yet in {path}"
    return (
        f"{store} is locked by another writer ({who}); two writers must never share a "
        "store: wait for that process to finish, or stop it, then run this command again "
        "(the lock goes with its holder, even if it is killed)"
    )
