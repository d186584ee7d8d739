"""PyTorch eager: the pre-optimisation baseline, CPU or CUDA, fp32/fp16, inference mode."""
from __future__ import annotations

from edgebench.backends.base import Backend
from edgebench.errors import BackendUnavailableError

_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


class PyTorchBackend(Backend):
    name = "pytorch"
    consumes = "module"
    devices = ("cpu", "cuda")
    precisions = ("fp32", "fp16", "bf16")

    def _prepare(self, module, batch_size: int) -> None:
        import torch

        if self.device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailableError("pytorch --device cuda needs a CUDA GPU; torch.cuda.is_available() is False")
        self._torch = torch
        self._dtype = getattr(torch, _DTYPES[self.precision])
        self.module = module.to(self.device, self._dtype).eval()
        self.details["torch"] = torch.__version__
        self.details["threads"] = torch.get_num_threads()

    def _run(self, x):
        torch = self._torch
        with torch.inference_mode():
            t = torch.from_numpy(x).to(self.device, self._dtype, non_blocking=True)
            out = self.module(t)
            return out.float().cpu().numpy()

    def _synchronize(self) -> None:
        if self.device == "cuda":
            self._torch.cuda.synchronize()

    def native_call(self, x):
        torch = self._torch
        t = torch.from_numpy(x).to(self.device, self._dtype)

        def call():
            with torch.inference_mode():
                return self.module(t)

        return call

    def _unload(self) -> None:
        self.module = None
