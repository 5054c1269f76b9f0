"""Where networks run: one way to name a device, the precision used on it, and what the
CPU's 8-bit arithmetic can do."""

from __future__ import annotations

import llvmlite.binding
import numba
import torch

# The CPU features (as LLVM names them) of the x86 instructions that add uint8 x int8
# products in 32 bits: AVX512-VNNI and AVX-VNNI.
VNNI_FEATURES = frozenset({"avx512vnni", "avxvnni"})


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """'auto' is CUDA when available, else the CPU; 'cpu', 'cuda' or 'cuda:N' as named.

    Raises ValueError when CUDA is asked for and this machine's torch sees none, or when the
    name is not a device at all.
    """
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; expected auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but torch sees no CUDA device")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r} is not supported; expected auto, cpu or cuda")
    return device


def autocast(device: torch.device) -> torch.autocast:
    """bfloat16 autocast on CUDA (no loss scaling needed); plain float32 elsewhere."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def precision(device: torch.device) -> str:
    """The arithmetic `autocast(device)` gives a forward pass: 'bfloat16' or 'float32'."""
    return "bfloat16" if device.type == "cuda" else "float32"


def use_threads(count: int | None = None) -> None:
    """Compute this process's CPU work on `count` threads: torch's intra-op pool and numba's
    (the recipes' exact topology, capped at numba's configured maximum). None: torch's count
    as it stands (OMP_NUM_THREADS when set, else one per core), numba's made to match.

    Why a setting: each library defaults to every core, so runs sharing a machine each start
    a thread per core and their threads spin against each other's: 20 times slower for
    small-batch signal training on 2 cores (docs/training.md, "Several runs on one machine").

    Called once at a process's start, before any exact PI: starting numba's OpenMP thread
    pool (its first parallel run, or the call here) resets the OpenMP thread count that
    torch reads to numba's maximum, one per core, whatever OMP_NUM_THREADS says (measured:
    1 -> 2 on 2 cores). Without this call a run's first exact PI (a `--crop-min-size` crop)
    changes torch's threads mid-run, and with them the float rounding that a resumed run
    must reproduce. Numba's pool is started first, so torch's count is the last word.
    """
    if count is None:
        count = torch.get_num_threads()
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"threads must be a whole number >= 1; got {count!r}")
    numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(count)


def cpu_features() -> frozenset[str]:
    """The instruction-set features of this machine's CPU that its OS enables, as LLVM names
    them ("avx2", "avx512vnni"), or an empty set where LLVM cannot tell. LLVM (through
    llvmlite, numba's compiler) asks the CPU itself, with CPUID on x86, so this reads the
    same on Linux, macOS and Windows."""
    try:
        features = llvmlite.binding.get_host_cpu_features()
    except RuntimeError:
        return frozenset()
    return frozenset(name for name, present in features.items() if present)


def int8_sums_saturate(features: frozenset[str] | None = None) -> bool:
    """Whether onnxruntime's 8-bit kernels on a CPU with `features` (`cpu_features` of this
    machine's when None) can saturate: on x86 CPUs with AVX2 but no VNNI they add pairs of
    uint8 x int8 products in 16 bits (`vpmaddubsw`), which overflow where weights near
    -128..127 meet activations near 255. Measured on such a CPU, the bundled image student
    lost 12% of its accuracy (docs/training.md, "On x86 CPUs without VNNI"). False for
    other architectures, whose kernels are taken to sum exactly, and where no features can
    be read (PINET_SEVEN_BIT_GRAPHS overrides it in the service)."""
    features = cpu_features() if features is None else features
    return "avx2" in features and not features & VNNI_FEATURES
