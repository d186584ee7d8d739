#!/usr/bin/env bash
# Device run: the GPU-marked backend tests, then the im2col probe (torch-compile FP16 with and
# without per-layer im2col lowering; one host_io A/B) on the models at kernel time. Training of
# the suite's models into /tmp (for the next call) runs beside the tests, before any timing.
set -uo pipefail
out=${1:?OUT_DIR}
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1 EDGEBENCH_CACHE=/tmp/edgebench-cache
ls -la /tmp/edgebench-train/ft 2>/dev/null | head -3; date > /tmp/eb-marker
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$out/env.txt"
bash scripts/gpu_train_suite.sh "$out" 0 >"$out/train.log" 2>&1 &
par=$(python3 -c 'import xdist' 2>/dev/null && echo "-n 2")
timeout -s INT 200 python3 -m pytest -q -rs $par -m needs_cuda -p no:cacheprovider tests/backends >"$out/gpu-tests.txt" 2>&1
tail -8 "$out/gpu-tests.txt"
wait; tail -12 "$out/train.txt"
p() { timeout -s INT "$1" python3 scripts/gpu_probe_variants.py "$out/$2.json" "${@:3}" 2>&1 | grep -v Warning | tee "$out/$2.log" | grep -E '^\{|^ +\{|^[a-z_0-9]+ +(pytorch|torch)' ; }
p 250 im2col --models densenet3d,c3d,alexnet,conv_autoencoder --variants torch-compile@fp16,torch-compile@fp16:im2col=auto --budget-s 220
p 60 hostio --models resnet50 --variants torch-compile@fp16:host_io=0,torch-compile@fp16 --budget-s 50
