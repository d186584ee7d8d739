"""Export: nn.Module -> on-disk artifact with metadata and a content hash."""
from edgebench.export.artifact import Artifact
from edgebench.export.onnx_export import export_onnx, load_onnx_file

__all__ = ["Artifact", "export_onnx", "load_onnx_file"]
