"""One-off: the device agent's serve under CUDA (torch fp32/fp16, onnxruntime), talked to directly."""
import base64, json, os, subprocess, sys, tempfile, time
import numpy as np, torch, torchvision
sys.path.insert(0, "src")
from edgebench.bench.cell import load_model
from edgebench.config import ModelOptions
from edgebench.export import export_onnx
from edgebench.targets import remote

AGENT = "src/edgebench/targets/agent.py"
out = {"torch": torch.__version__, "torchvision": torchvision.__version__, "gpu": torch.cuda.get_device_name(0)}
work = tempfile.mkdtemp()
proc = subprocess.Popen([sys.executable, AGENT, "probe"], stdout=subprocess.PIPE, text=True)
out["probe"] = json.loads(proc.communicate()[0])

def session():
    return subprocess.Popen([sys.executable, AGENT, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=open(os.path.join(work, "agent.err"), "a"), text=True, bufsize=1)

def call(p, req):
    p.stdin.write(json.dumps(req) + "\n"); p.stdin.flush()
    return json.loads(p.stdout.readline())

cells = []
for name in ["resnet50", "c3d", "mobilenet_v2"]:
    loaded = load_model(name, ModelOptions(opset=13), None)
    shape = list(loaded.spec.input_shape)
    rng = np.random.default_rng(0)
    pool = rng.standard_normal((4, 1, *shape)).astype(np.float32)
    check = rng.standard_normal((8, 1, *shape)).astype(np.float32)
    pool.tofile(f"{work}/{name}-pool.bin"); check.tofile(f"{work}/{name}-check.bin")
    with torch.inference_mode():
        ref = np.stack([loaded.module(torch.from_numpy(c)).numpy() for c in check])
    wfile = remote.weights_file(loaded, __import__("pathlib").Path(work))
    recipe, definition = remote.model_recipe(loaded.spec)
    model = {**recipe, "num_classes": loaded.num_classes}
    if definition is not None:
        model["file"] = str(definition)
    art = export_onnx(loaded, opset=13, cache_dir=__import__("pathlib").Path(work) / "cache")
    for engine, device, precision in [("pytorch", "cuda", "fp32"), ("pytorch", "cuda", "fp16"), ("pytorch", "cpu", "fp32"),
                                      ("onnxruntime", "auto", "fp32")]:
        req = {"op": "open", "engine": engine, "device": device, "precision": precision, "batch": 1, "item_shape": shape,
               "pool": {"path": f"{work}/{name}-pool.bin", "count": 4}, "check": {"path": f"{work}/{name}-check.bin", "count": 8}}
        if engine == "pytorch":
            req.update(model=model, weights=str(wfile))
        else:
            req["onnx"] = str(art.path)
        p = session()
        t0 = time.time()
        r = call(p, req)
        cell = {"model": name, "engine": engine, "device_asked": device, "precision": precision, "open_ok": r.get("ok"),
                "error": r.get("error"), "device": r.get("device"), "load_s": r.get("load_s"), "first_infer_s": r.get("first_infer_s"),
                "details": r.get("details")}
        if r.get("ok"):
            o = r["outputs"]
            got = np.frombuffer(base64.b64decode(o["b64"]), dtype=np.float32).reshape(o["shape"])
            cell["max_abs_diff_vs_cpu_torch"] = float(np.abs(got - ref).max())
            cell["top1_agree"] = float((got.reshape(8, -1).argmax(1) == ref.reshape(8, -1).argmax(1)).mean())
            m = call(p, {"op": "measure", "warmup_iters": 10, "warmup_s": 0.5, "min_iters": 50, "min_time_s": 1.0})
            cell["measure_ok"] = m.get("ok")
            if m.get("ok"):
                s = sorted(m["samples_ms"]); cell["n"] = len(s); cell["p50_ms"] = s[len(s) // 2]; cell["rss_peak_mb"] = m.get("rss_peak_mb")
            else:
                cell["measure_error"] = m.get("error")
        c = call(p, {"op": "close"})
        p.wait(30)
        cell["exit"] = p.returncode
        cells.append(cell)
        print(json.dumps(cell), flush=True)
out["cells"] = cells
out["agent_stderr_tail"] = open(os.path.join(work, "agent.err")).read()[-3000:]
json.dump(out, open(os.path.join(os.environ.get("OUT", "."), "agent_cuda.json"), "w"), indent=1)
