"""Where the job's chunks are computed: inline, in a local process pool, or on a Dask
cluster, behind one small interface; and a bounded map that keeps a few tasks per worker in
flight, so memory stays bounded however many chunks a job has."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, TypeVar

Result = TypeVar("Result")
Submit = Callable[..., Any]
WaitFirst = Callable[[set], tuple[set, set]]
TASKS_PER_WORKER = 2  # in flight per worker: keeps workers busy, bounds memory


@dataclass(frozen=True)
class Executor:
    """How tasks are run: submit, wait for the first to finish, how many can run at once,
    and how many threads each task may use (None: all)."""

    submit: Submit
    wait_first: WaitFirst
    slots: int
    threads_per_task: int | None


def bounded_map(
    executor: Executor, function: Callable[..., Result], tasks: Iterator[tuple[int, tuple]]
) -> Iterator[tuple[int, Result]]:
    """`function(*arguments)` for each `(key, arguments)` of `tasks`, with at most
    TASKS_PER_WORKER per slot in flight; yields `(key, result)` as they finish."""
    limit = TASKS_PER_WORKER * executor.slots
    in_flight: dict[Any, int] = {}
    for key, arguments in tasks:
        if len(in_flight) >= limit:
            yield from _collect(executor.wait_first, in_flight)
        in_flight[executor.submit(function, *arguments)] = key
    while in_flight:
        yield from _collect(executor.wait_first, in_flight)


def _collect(wait_first: WaitFirst, in_flight: dict) -> Iterator[tuple[int, Any]]:
    finished, _ = wait_first(set(in_flight))
    for future in finished:
        yield in_flight.pop(future), future.result()


@contextmanager
def executor_for(workers: int | None, dask_address: str | None) -> Iterator[Executor]:
    """A Dask cluster, a local process pool, or inline execution (one worker).

    Pool and cluster tasks run with one BLAS/OpenMP/numba thread each: the parallelism is
    across tasks, and nested threads only fight over the same cores (SPEC 6).
    """
    if dask_address:
        from distributed import Client
        from distributed import wait as dask_wait

        with Client(dask_address, timeout="30s") as client:
            yield Executor(
                submit=lambda function, *arguments: client.submit(function, *arguments, pure=False),
                wait_first=lambda fs: dask_wait(fs, return_when=FIRST_COMPLETED),
                slots=max(1, sum(client.nthreads().values())),
                threads_per_task=1,
            )
        return
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        yield Executor(_run_inline, lambda fs: (fs, set()), 1, None)
        return
    pool = ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=_exit_with_parent
    )
    try:
        yield Executor(pool.submit, lambda fs: wait(fs, return_when=FIRST_COMPLETED), workers, 1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _exit_with_parent() -> None:
    """Pool worker initializer: end this worker as soon as the job process is gone, so a
    `kill -9` of the job leaves no orphaned workers computing for nobody."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def exit_when_parent_dies() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=exit_when_parent_dies, daemon=True).start()


def _run_inline(function: Callable, *arguments: Any) -> Future:
    future: Future = Future()
    future.set_result(function(*arguments))
    return future


def thread_limit(threads: int | None) -> AbstractContextManager[Any]:
    """Limit BLAS/OpenMP and numba threads for the duration of a task (None: no limit)."""
    if threads is None:
        return nullcontext()
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    return threadpool_limits(threads)
