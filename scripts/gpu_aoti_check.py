"""Device check of the aot-inductor backend on the tiny test model: export, build (in a child
process, or in this one with BUILD_PROCESS 0), load, run twice and compare with eager PyTorch.
Prints one line `ok ...` and exits 0, or fails; a crash shows as the exit status (-11 SIGSEGV).
Usage: python3 scripts/gpu_aoti_check.py BUILD_PROCESS(0|1) [PRECISION [CXX]]"""
import copy
import sys
import tempfile

import numpy as np
import torch

from edgebench.backends import create_backend
from edgebench.bench.harness import infer
from edgebench.models import build_model, get_spec


def main() -> int:
    build_process, precision = int(sys.argv[1]), (sys.argv[2] if len(sys.argv) > 2 else "fp16")
    cxx = {"cxx": sys.argv[3]} if len(sys.argv) > 3 else {}
    loaded = build_model(get_spec("test_cnn"))
    x = np.random.default_rng(3).standard_normal((2, 3, 32, 32), dtype=np.float32)
    with torch.inference_mode():
        ref = loaded.module(torch.from_numpy(x)).numpy()
    with tempfile.TemporaryDirectory() as cache:
        bk = create_backend("aot-inductor", device="cuda", precision=precision, cache_dir=cache, build_process=build_process, **cxx,
                            item_shape=(3, 32, 32), source_key={"model": "test_cnn", "weights_sha256": loaded.weights_sha256})
        with bk.prepare(copy.deepcopy(loaded.module), 2).load():
            err = max(float(np.abs(infer(bk, x) - ref).max()) for _ in range(2))
    tol = 1e-3 if precision == "fp32" else 3e-2
    print(f"ok build_process={build_process} precision={precision} build_s={bk.timings['build_s']:.1f} max_abs_err={err:.2e}")
    return 0 if err < tol else 1


if __name__ == "__main__":
    sys.exit(main())
