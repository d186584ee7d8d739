"""Device probe for the aot-inductor load crash: builds the tiny model's package once (child
process, private Inductor cache), then loads it in fresh processes that import different things
first, and dumps what the package's wrapper library holds. Usage: gpu_aoti_probe.py OUT_DIR PRECISION"""
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

from edgebench.backends import create_backend
from edgebench.models import build_model, get_spec

out, precision = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
loaded = build_model(get_spec("test_cnn"))
cache = tempfile.mkdtemp()
bk = create_backend("aot-inductor", device="cuda", precision=precision, cache_dir=cache,
                    item_shape=(3, 32, 32), source_key={"model": "test_cnn", "weights_sha256": loaded.weights_sha256})
bk.prepare(copy.deepcopy(loaded.module), 2)
pkg = os.path.join(out, f"pkg-{precision}.pt2")
shutil.copy(bk.package, pkg)
print("built", precision, f"{bk.timings['build_s']:.1f}s", flush=True)
with zipfile.ZipFile(pkg) as z:
    names = z.namelist()
    print("\n".join(n for n in names if not n.startswith("data/weights")))
    so = [n for n in names if n.endswith(".so")][0]
    z.extract(so, out)
    for n in names:
        if n.endswith(".json") and "flags" in n:
            print(n, z.read(n).decode()[:1500])
sopath = os.path.join(out, so)
for cmd in (["readelf", "-d", sopath], ["sh", "-c", f"nm -D --defined-only {sopath} | grep -c ' _ZNSt\\| _ZNKSt'"],
            ["sh", "-c", f"nm -D --defined-only {sopath} | grep -i 'codecvt\\|locale\\|regex' | head -20"],
            ["sh", "-c", "g++ --version | head -1; which g++ c++ gcc clang++; echo CXX=$CXX"]):
    r = subprocess.run(cmd, capture_output=True, text=True)
    print("$", " ".join(cmd)[:120], "\n", r.stdout[-3000:], r.stderr[-500:], flush=True)
load = f"torch._inductor.aoti_load_package({pkg!r})(torch.zeros(2, 3, 32, 32, device='cuda')); print('loaded')"
for first in ("import torch", "import onnxruntime, torch", "import cv2, torch", "import skimage, matplotlib.pyplot, torch",
              "import torch; from edgebench.models import build_model",
              "import torch, torch._inductor.config as c; import triton"):
    r = subprocess.run([sys.executable, "-c", f"{first}; {load}"], capture_output=True, text=True, timeout=120)
    print(f"[{first}] rc={r.returncode} {r.stdout.strip()[-80:]} {r.stderr.strip()[-200:]}", flush=True)
