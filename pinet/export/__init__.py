"""Writing trained models as they ship: one module per format (`half`: float16 safetensors
checkpoints, the format of the bundled models)."""

from pinet.export.half import export_float16

__all__ = ["export_float16"]
