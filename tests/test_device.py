"""Thread counts: the first exact PI of a process must not change how torch computes.

Numba's thread pool starts once per process, so each case runs in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pinet.device import cpu_flags, int8_sums_saturate, use_threads

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


# /proc/cpuinfo lines of four CPUs, cut to what matters.
AVX2_ONLY = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma\n"
AVX512_VNNI = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 avx512f avx512_vnni\n"
AVX_VNNI = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 avx_vnni\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd asimddp\nCPU implementer\t: 0x41\n"


@pytest.mark.parametrize(
    ("cpuinfo", "saturate"),
    [(AVX2_ONLY, True), (AVX512_VNNI, False), (AVX_VNNI, False), (ARM, False)],
)
def test_8_bit_sums_saturate_on_x86_cpus_without_vnni(
    cpuinfo: str, saturate: bool, tmp_path: Path
) -> None:
    (tmp_path / "cpuinfo").write_text(cpuinfo)
    assert int8_sums_saturate(tmp_path / "cpuinfo") is saturate


def test_the_flags_of_a_cpu_are_read_from_its_first_flags_line(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text(AVX2_ONLY + "\n" + AVX512_VNNI.replace("0", "1", 1))
    assert cpu_flags(tmp_path / "cpuinfo") == {"fpu", "sse2", "avx", "avx2", "fma"}
    assert cpu_flags(tmp_path / "missing") is None
    assert int8_sums_saturate(tmp_path / "missing") is False
