"""Writing trained models as they ship, one module per format: `weights` (safetensors
checkpoints with float16 or int8 weights, the format of the bundled models) and `onnx` (an
ONNX graph for onnxruntime, float32 or int8); `measure` records in the card what the
exported weights score."""

from pinet.export.onnx import export_onnx
from pinet.export.weights import WEIGHT_FORMATS, export_weights

__all__ = ["WEIGHT_FORMATS", "export_onnx", "export_weights"]
