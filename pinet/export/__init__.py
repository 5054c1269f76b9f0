"""Writing trained models as they ship, one module per format: `half` (float16 safetensors
checkpoints, the format of the bundled models) and `onnx` (an ONNX graph for onnxruntime,
float32 or int8); `measure` records in the card what the exported weights score."""

from pinet.export.half import export_float16
from pinet.export.onnx import export_onnx

__all__ = ["export_float16", "export_onnx"]
