"""The names of the per-layer profilers, as stored in a record's details["layer_profile"]["source"]
(a leaf: the backends write them, the report and the targets read them)."""

ONNXRUNTIME = "onnxruntime session profiling"
TORCH_CPU = "torch.profiler (CPU)"
TORCH_CUDA = "torch.profiler (CUDA kernels)"
OPENVINO = "openvino per-layer counters"
TENSORRT = "tensorrt IProfiler"
TRTEXEC = "trtexec --exportProfile"  # a target's tensorrt cells (targets.arms)
