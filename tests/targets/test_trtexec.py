"""trtexec's command lines and the parsers of what it writes. No TensorRT runs here: the argv
lists are checked as lists, and the parsers read the files under fixtures/ (SOURCES.md says which
are real trtexec output and which are hand-written)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from edgebench.errors import EdgebenchError, InvalidConfigError, TargetOutputError
from edgebench.targets import trtexec as tx
from edgebench.targets import trtexec_files as tf

FIX = Path(__file__).parent / "fixtures"
TRT = "/usr/src/tensorrt/bin/trtexec"
SHAPE = (3, 224, 224)


def _all_str(argv):
    return isinstance(argv, list) and all(type(a) is str for a in argv)


# ---- command lines ------------------------------------------------------------------------

def test_build_argv_trt82_uses_workspace():
    argv = tx.build_argv(TRT, Path("/d/m.onnx"), Path("/d/m.engine"), sample_shape=SHAPE, trt_version="8.2.1.8",
                         precision="fp16", min_batch=1, opt_batch=4, max_batch=8, workspace_mib=1024)
    assert _all_str(argv)
    assert argv[:3] == [TRT, "--onnx=/d/m.onnx", "--saveEngine=/d/m.engine"]
    assert "--minShapes=input:1x3x224x224" in argv
    assert "--optShapes=input:4x3x224x224" in argv
    assert "--maxShapes=input:8x3x224x224" in argv
    assert "--fp16" in argv and "--int8" not in argv
    assert "--workspace=1024" in argv
    assert not any(a.startswith("--memPoolSize") for a in argv)
    assert "--profilingVerbosity=detailed" in argv
    assert "--buildOnly" in argv


@pytest.mark.parametrize("version", ["8.4.1", (8, 6), "10.3.0", 10])
def test_build_argv_from_84_uses_mempoolsize(version):
    argv = tx.build_argv(TRT, "m.onnx", "m.engine", sample_shape=SHAPE, trt_version=version, workspace_mib=512)
    assert "--memPoolSize=workspace:512" in argv
    assert not any(a.startswith("--workspace") for a in argv)


def test_build_argv_precisions_and_no_workspace():
    fp32 = tx.build_argv(TRT, "m.onnx", "m.engine", sample_shape=SHAPE, trt_version="10.0")
    assert "--fp16" not in fp32 and "--int8" not in fp32
    assert not any(a.startswith(("--workspace", "--memPoolSize")) for a in fp32)
    assert "--skipInference" in fp32
    int8 = tx.build_argv(TRT, "m.onnx", "m.engine", sample_shape=SHAPE, trt_version="8.2", precision="int8")
    assert "--int8" in int8
    with pytest.raises(InvalidConfigError, match="precision"):
        tx.build_argv(TRT, "m.onnx", "m.engine", sample_shape=SHAPE, trt_version="8.2", precision="bf16")
    with pytest.raises(InvalidConfigError, match="min <= opt <= max"):
        tx.build_argv(TRT, "m.onnx", "m.engine", sample_shape=SHAPE, trt_version="8.2", min_batch=4, opt_batch=2)


def test_build_argv_video_shape():
    argv = tx.build_argv(TRT, "m.onnx", "m.engine", sample_shape=(3, 16, 112, 112), trt_version="8.2")
    assert "--optShapes=input:1x3x16x112x112" in argv


def test_timing_argv():
    argv = tx.timing_argv(TRT, Path("/d/m.engine"), Path("/d/times.json"), sample_shape=SHAPE, batch=2,
                          warmup_ms=500, duration_s=10, iterations=200)
    assert _all_str(argv)
    assert argv == [TRT, "--loadEngine=/d/m.engine", "--shapes=input:2x3x224x224", "--warmUp=500",
                    "--duration=10", "--iterations=200", "--exportTimes=/d/times.json"]
    assert "--duration=2.5" in tx.timing_argv(TRT, "e", "t", sample_shape=SHAPE, duration_s=2.5)
    with pytest.raises(InvalidConfigError):
        tx.timing_argv(TRT, "e", "t", sample_shape=SHAPE, iterations=0)


def test_profile_argv():
    argv = tx.profile_argv(TRT, "m.engine", "prof.json", "layers.json", sample_shape=SHAPE, trt_version="10.3")
    assert _all_str(argv)
    assert argv[1] == "--loadEngine=m.engine"
    assert "--shapes=input:1x3x224x224" in argv
    assert "--exportProfile=prof.json" in argv
    assert "--exportLayerInfo=layers.json" in argv
    assert "--profilingVerbosity=detailed" in argv
    assert not any(a.startswith("--exportTimes") for a in argv)


def test_profile_argv_trt82_asks_only_for_the_profile():
    argv = tx.profile_argv(TRT, "m.engine", "prof.json", "layers.json", sample_shape=SHAPE, trt_version="8.2.1")
    assert "--exportProfile=prof.json" in argv
    assert not any(a.startswith("--exportLayerInfo") for a in argv)


def test_parity_argv():
    argv = tx.parity_argv(TRT, "m.engine", Path("/d/in.raw"), Path("/d/out.json"), sample_shape=SHAPE)
    assert _all_str(argv)
    assert "--loadInputs=input:/d/in.raw" in argv
    assert "--exportOutput=/d/out.json" in argv
    assert "--shapes=input:1x3x224x224" in argv


def test_parse_trt_version():
    assert tx.parse_trt_version("8.2.1.8") == (8, 2)
    assert tx.parse_trt_version("8.2.1-1+cuda10.2") == (8, 2)  # dpkg-query libnvinfer8 on JetPack 4.6
    assert tx.parse_trt_version("10") == (10, 0)
    assert tx.parse_trt_version((8, 4, 1)) == (8, 4)
    with pytest.raises(InvalidConfigError):
        tx.parse_trt_version("eight")


# ---- --exportTimes ------------------------------------------------------------------------

def test_parse_times_v8():
    t = tf.parse_times(FIX / "times_v8_handwritten.json")
    assert t.format == "v8" and t.count == 3
    assert t.latency_ms == (2.45, 2.56, 2.34)
    assert t.compute_ms == (2.0, 2.1, 1.9)
    assert t.h2d_ms == (0.4, 0.4, 0.4)
    assert t.d2h_ms == (0.05, 0.06, 0.04)
    assert t.enqueue_ms == pytest.approx((0.25, 0.2, 0.25))
    s = t.stats()
    assert s["latency"].count == 3
    assert s["latency"].mean_ms == pytest.approx((2.45 + 2.56 + 2.34) / 3)
    assert s["compute"].p50_ms == pytest.approx(2.0)
    assert s["enqueue"].max_ms == pytest.approx(0.25)


def test_parse_times_v7_matches_v8_on_the_same_queries():
    old = tf.parse_times(FIX / "times_v7_handwritten.json")
    new = tf.parse_times(FIX / "times_v8_handwritten.json")
    assert old.format == "v7" and old.enqueue_ms is None
    so, sn = old.stats(), new.stats()
    assert so["enqueue"] is None and sn["enqueue"] is not None
    for part in ("latency", "compute", "h2d", "d2h", "end_to_end"):
        assert so[part].to_dict() == pytest.approx(sn[part].to_dict()), part


def test_parse_times_trt10_without_end_to_end_and_durations_derived():
    rows = json.loads((FIX / "times_v8_handwritten.json").read_text())
    for r in rows:
        del r["endToEndMs"]       # TensorRT 10 writes no endToEndMs
    t10 = tf.parse_times(json.dumps(rows), "t10.json")
    assert t10.end_to_end_ms == pytest.approx((2.45, 2.56, 2.34))
    for r in rows:                # durations missing: taken from the timestamps
        for k in ("h2dMs", "computeMs", "d2hMs", "latencyMs"):
            del r[k]
    bare = tf.parse_times(json.dumps(rows), "bare.json")
    assert bare.latency_ms == pytest.approx((2.45, 2.56, 2.34))
    assert bare.compute_ms == pytest.approx((2.0, 2.1, 1.9))


def test_times_after_warmup():
    t = tf.parse_times(FIX / "times_v8_handwritten.json").after_warmup(3.0)
    assert t.count == 2 and t.compute_ms == (2.1, 1.9)
    with pytest.raises(TargetOutputError, match="warm-up"):
        tf.parse_times(FIX / "times_v8_handwritten.json").after_warmup(100)


def test_parse_times_bad_input(tmp_path):
    text = (FIX / "times_v8_handwritten.json").read_text()
    cut = tmp_path / "times.json"
    cut.write_text(text[: len(text) // 2])
    with pytest.raises(TargetOutputError, match=r"times\.json: not valid JSON.*truncated"):
        tf.parse_times(cut)
    with pytest.raises(TargetOutputError, match="no queries"):
        tf.parse_times("[]", "t.json")
    with pytest.raises(TargetOutputError, match="neither startH2dMs"):
        tf.parse_times('[{"foo": 1}]', "t.json")
    rows = json.loads(text)
    del rows[1]["startComputeMs"]
    with pytest.raises(TargetOutputError, match="query 1 has no 'startComputeMs'"):
        tf.parse_times(json.dumps(rows), "t.json")
    rows = json.loads(text)
    rows[2]["computeMs"] = "fast"
    with pytest.raises(TargetOutputError, match="query 2 computeMs"):
        tf.parse_times(json.dumps(rows), "t.json")
    with pytest.raises(TargetOutputError, match="cannot read"):
        tf.parse_times(tmp_path / "missing.json")
    assert issubclass(TargetOutputError, EdgebenchError)


# ---- --exportProfile ----------------------------------------------------------------------

def test_parse_profile_without_median():
    p = tf.parse_profile(FIX / "profile_no_median.json")
    assert p.count == 625
    assert len(p.layers) == 6
    first = p.layers[0]
    assert first.name == "Reformatting CopyNode for Input Tensor 0 to Conv_0 + PWN(Clip_3)"
    assert (first.total_ms, first.average_ms, first.percentage) == (36.6844, 0.058695, 1.20497)
    assert first.median_ms is None
    big = max(p.layers, key=lambda lt: lt.total_ms)
    assert big.total_ms == 1009.24 and big.average_ms == 1.61478 and big.percentage == 33.1504
    # averageMs is timeMs / count in the writer
    assert big.total_ms / p.count == pytest.approx(big.average_ms, rel=1e-4)
    rows = p.to_rows()
    assert rows[3] == {"layer": "Reformatting CopyNode for Input Tensor 0 to Conv_8", "total_ms": 0.0,
                       "average_ms": 0.0, "median_ms": None, "percentage": 0.0}


def test_parse_profile_with_median():
    p = tf.parse_profile(FIX / "profile_with_median.json")
    assert p.count == 41400
    (only,) = p.layers
    assert only.name == "/conv1/Conv + /act1/Relu"
    assert (only.total_ms, only.average_ms, only.median_ms, only.percentage) == (1160.78, 0.0280382, 0.027872, 100.0)


def test_parse_profile_bad_input():
    with pytest.raises(TargetOutputError, match=r"p\.json: the first element must be"):
        tf.parse_profile('[{"name": "a", "timeMs": 1, "averageMs": 1, "percentage": 100}]', "p.json")
    with pytest.raises(TargetOutputError, match="has no 'averageMs'"):
        tf.parse_profile('[{"count": 2}, {"name": "a", "timeMs": 1, "percentage": 100}]', "p.json")
    with pytest.raises(TargetOutputError, match="not valid JSON"):
        tf.parse_profile('[\n  { "count" : 625 }\n, { "name" : "Conv_0", "timeMs" : 36.6', "p.json")


# ---- --exportOutput -----------------------------------------------------------------------

def test_parse_outputs():
    out = tf.parse_outputs(FIX / "output.json")
    assert list(out) == ["probs_phone", "probs_headset", "probs_gaze"]
    dims, values = out["probs_headset"]
    assert dims == (1, 3)
    assert values == [0.79014, 0.206794, 0.00306536]
    assert out["probs_gaze"][1][-1] == 0.961798


def test_parse_outputs_nonfinite_values_are_read_as_floats():
    text = '[\n  { "name" : "logits"\n  , "dimensions" : "1x3"\n  , "values" : [ nan, -inf, 1.5 ]\n  }\n]\n'
    (dims, values), = tf.parse_outputs(text, "o.json").values()
    assert dims == (1, 3) and math.isnan(values[0]) and values[1] == -math.inf and values[2] == 1.5


def test_parse_outputs_bad_input():
    with pytest.raises(TargetOutputError, match="2 values for dimensions 1x3"):
        tf.parse_outputs('[{"name": "y", "dimensions": "1x3", "values": [1, 2]}]', "o.json")
    with pytest.raises(TargetOutputError, match="not like '1x1000'"):
        tf.parse_outputs('[{"name": "y", "dimensions": "1,3", "values": [1, 2, 3]}]', "o.json")
    with pytest.raises(TargetOutputError, match="lacks name/dimensions/values"):
        tf.parse_outputs('[{"name": "y"}]', "o.json")
    text = (FIX / "output.json").read_text()
    with pytest.raises(TargetOutputError, match="o.json: not valid JSON"):
        tf.parse_outputs(text[:-40], "o.json")


# ---- the printed summary ------------------------------------------------------------------

def test_parse_layer_info_names_only_and_detailed():
    names = tf.parse_layer_info(FIX / "layer_info_names_only.json")
    assert len(names) == 6 and names[3] == {"name": "PWN(PWN(/Sub), PWN(/Div))", "type": None}
    detailed = tf.parse_layer_info(FIX / "layer_info_detailed_excerpt.json")
    assert detailed == [{"name": "node_of_gpu_0/res4_0_branch2a_1 + node_of_gpu_0/res4_0_branch2a_bn_1 + "
                                 "node_of_gpu_0/res4_0_branch2a_bn_2", "type": "CaskConvolution"}]


@pytest.mark.parametrize("text, needle", [('["a"]', 'a "Layers" list'), ('{"Layers": [3]}', "layer 0 is neither"),
                                          ('{"Layers": [', "not valid JSON")])
def test_parse_layer_info_refuses_other_shapes(text, needle):
    with pytest.raises(TargetOutputError, match=needle):
        tf.parse_layer_info(text, "layers.json")
