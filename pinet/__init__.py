"""PI-Net: exact and learned persistence images of signals and images.

`pinet.tda` computes exact diagrams and PIs; `pinet.load_model` / `pinet.predict` use a
trained PI-Net. The latter are imported on first use, so that the
ground-truth job, which needs only `pinet.tda` and `pinet.store`, never pays for importing
PyTorch.
"""

from typing import Any

__all__ = ["LoadedModel", "load_model", "predict"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pinet import inference

        return getattr(inference, name)
    raise AttributeError(f"module 'pinet' has no attribute {name!r}")
