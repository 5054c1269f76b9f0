"""Thread counts: the first exact PI of a process must not change how torch computes.

Numba's thread pool starts once per process, so each case runs in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pinet.device import cpu_features, int8_sums_saturate, use_threads

# An exact PI through numba's parallel code, then torch's thread count as it stands.
FIRST_EXACT_PI = """
import numpy as np, torch
from pinet.device import use_threads
from pinet.tda import get_recipe
{setup}
get_recipe("signal-sublevel").transform_batch(np.random.default_rng(0).random((2, 3, 250)))
print(torch.get_num_threads())
"""


def torch_threads_after_first_exact_pi(setup: str) -> int:
    """Torch's threads after a fresh process ran `setup`, then its first exact PI: with one
    OpenMP thread asked for and numba allowed two, so that a reset is visible on any CPU."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-c", FIRST_EXACT_PI.format(setup=setup)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return int(done.stdout.split()[-1])


def test_numba_s_pool_resets_torch_s_threads_unless_use_threads_came_first() -> None:
    if torch_threads_after_first_exact_pi("") != 2:  # what `use_threads` guards against
        # Seen once, on a machine whose two cores were held by two trainings besides the
        # suite: the pool started without the reset, and the cases below prove nothing.
        pytest.skip("numba's pool did not reset torch's threads here: nothing to guard against")
    assert torch_threads_after_first_exact_pi("use_threads()") == 1
    assert torch_threads_after_first_exact_pi("use_threads(1)") == 1


@pytest.mark.parametrize("count", [0, -1, 1.5, True])
def test_a_thread_count_below_one_or_not_whole_is_refused(count: object) -> None:
    with pytest.raises(ValueError, match="threads must be a whole number >= 1"):
        use_threads(count)  # type: ignore[arg-type]


# The features LLVM reads on four CPUs, cut to what matters.
AVX2_ONLY = frozenset({"sse2", "avx", "avx2", "fma"})
AVX512_VNNI = AVX2_ONLY | {"avx512f", "avx512vnni"}
AVX_VNNI = AVX2_ONLY | {"avxvnni"}
ARM = frozenset({"neon", "fp-armv8", "dotprod"})


@pytest.mark.parametrize(
    ("features", "saturate"),
    [
        (AVX2_ONLY, True),
        (AVX512_VNNI, False),
        (AVX_VNNI, False),
        (ARM, False),
        (frozenset(), False),
    ],
)
def test_8_bit_sums_saturate_on_x86_cpus_without_vnni(
    features: frozenset[str], saturate: bool
) -> None:
    assert int8_sums_saturate(features) is saturate


# Linux's names of the flags LLVM reads under other names.
CPUINFO_NAMES = {"avx2": "avx2", "avx512vnni": "avx512_vnni", "avxvnni": "avx_vnni"}


def test_the_cpu_features_are_the_ones_linux_lists() -> None:
    """LLVM's reading (the one used on every OS) agrees with /proc/cpuinfo's first flags
    line wherever Linux on x86 has one to compare."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        pytest.skip("no /proc/cpuinfo: not Linux")
    flags = next(
        (line.partition(":")[2].split() for line in lines if line.startswith("flags")), None
    )
    if flags is None:
        pytest.skip("/proc/cpuinfo lists no x86 flags")
    features = cpu_features()
    for llvm_name, linux_name in CPUINFO_NAMES.items():
        assert (llvm_name in features) == (linux_name in flags), llvm_name
    assert int8_sums_saturate() is (
        "avx2" in flags and not {"avx512_vnni", "avx_vnni"} & set(flags)
    )
