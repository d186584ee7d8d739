"""The fused INT8 product (triton_int8.py): int32 accumulation of int8 rows and weights, each output
channel scaled and biased, stored in FP16 or BF16; on the CPU through Triton's interpreter (in a
child process: TRITON_INTERPRET must be set before Triton is imported), on a GPU compiled, and as
the INT8 layers' product there."""
import json
import os
import subprocess
import sys
from importlib.util import find_spec

import pytest
import torch

from tests.conftest import built_for_nvidia

pytestmark = pytest.mark.skipif(find_spec("triton") is None, reason="needs the triton package (ships with torch on Linux x86_64)")

_CASES = r'''
import json
import torch
from edgebench.backends.torch_compile.triton_int8 import fused_int8_mm

g = torch.Generator().manual_seed(0)
errors = []
for m, k, n, bias, dtype in ((37, 64, 24, True, torch.float16), (130, 72, 136, False, torch.bfloat16), (5, 8, 8, True, torch.float16)):
    a = torch.randint(-127, 128, (m, k), generator=g, dtype=torch.int8)
    w = torch.randint(-127, 128, (n, k), generator=g, dtype=torch.int8)
    scale = torch.rand(n, generator=g) * 1e-3
    b = torch.randn(n, generator=g) if bias else None
    ref = (a.int() @ w.int().t()).double() * scale.double() + (b.double() if bias else 0)
    got = fused_int8_mm(a, w, scale, b, dtype)
    assert got.dtype == dtype and got.shape == (m, n)
    errors.append(float(((got.double() - ref).abs() / (ref.abs() + 1e-3)).max()))
# rows that are a strided view (a channels-last activation's columns)
x = torch.randint(-127, 128, (2, 16, 5, 5), generator=g, dtype=torch.int8).contiguous(memory_format=torch.channels_last)
cols = x.movedim(1, -1).reshape(-1, 16)
w = torch.randint(-127, 128, (8, 16), generator=g, dtype=torch.int8)
ref = (cols.int() @ w.int().t()).double() * 1e-3  # scaled into FP16's range
got = fused_int8_mm(cols, w, torch.full((8,), 1e-3), None, torch.float16).double()
errors.append(float(((got - ref).abs() / (ref.abs() + 1e-3)).max()))
print(json.dumps(errors))
'''


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the compiled kernel is tested instead")
def test_the_fused_int8_product_is_exact_integer_accumulation_then_one_rounding():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    out = subprocess.run([sys.executable, "-c", _CASES], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    errors = json.loads(out.stdout.strip().splitlines()[-1])
    # the accumulation is exact; only the final store rounds: FP16 to 2^-11, BF16 to 2^-8
    assert errors[0] < 2**-10 and errors[1] < 2**-7 and errors[2] < 2**-10 and errors[3] < 2**-10, errors


@pytest.mark.needs_cuda
def test_int8_layers_use_the_fused_kernel_on_a_gpu_inside_torch_compile():
    from torch import nn

    from edgebench.backends.torch_compile import low_precision as lp

    torch.manual_seed(0)
    conv = nn.Conv2d(64, 128, 1).cuda().half().eval()
    x = torch.randn(8, 64, 14, 14, device="cuda", dtype=torch.half).contiguous(memory_format=torch.channels_last)
    path, why = lp.gpu_path("int8", "cuda", torch.cuda.get_device_capability())
    assert (path, why) == ("triton-int8", "")
    low = lp.LowPrecisionConv(conv, float(x.abs().max()) / 127, "int8").cuda().for_gpu(path)
    with torch.no_grad():
        ref, eager, compiled = conv(x).float(), low(x).float(), torch.compile(low)(x).float()
    assert float((eager - ref).norm() / ref.norm()) < 0.02 and torch.allclose(eager, compiled, atol=1e-2)


def test_the_int8_kernel_compiles_for_jetson_orin_here():
    """The Jetson link: the INT8 product compiles for sm_87 (Orin) on this machine, with no GPU,
    into a cubin whose PTX multiplies int8 on the tensor cores (mma ... s32.s8.s8.s32)."""
    from edgebench.backends.torch_compile.triton_int8 import compile_for

    kernel = built_for_nvidia(lambda: compile_for(87))
    ptx = kernel.asm["ptx"]
    assert ".target sm_87" in ptx and "s32.s8.s8.s32" in ptx
    assert len(kernel.asm["cubin"]) > 10_000
