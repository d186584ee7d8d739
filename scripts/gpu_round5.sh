#!/usr/bin/env bash
# Device run: (1) the aot-inductor crash check: the tiny model built in a child process (the
# default) and in the loading process, three fresh processes each, in parallel with the
# GPU-marked tests; a native backtrace under cuda-gdb if the in-process build crashes; (2) the
# Triton convolution probe: the models at kernel time with torch-compile FP16 with and without
# the Triton candidate (random-init weights). Everything lands in OUT/r5.tgz plus OUT/summary.txt.
# Usage: scripts/gpu_round5.sh OUT END_SECONDS
set -uo pipefail
out=${1:?OUT}; end=${2:?END_SECONDS}
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1 EDGEBENCH_CACHE=/tmp/edgebench-cache
w=/tmp/r5; mkdir -p "$w" "$out"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python3 -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__)'; } 2>&1 | tee "$w/env.txt"
for i in 1 2 3; do
  for b in 1 0; do (timeout 240 python3 scripts/gpu_aoti_check.py $b >"$w/aoti-$b-$i.txt" 2>&1; echo "rc=$?" >>"$w/aoti-$b-$i.txt") & done
done
par=$(python3 -c 'import xdist' 2>/dev/null && echo "-n 2")
timeout -s INT 240 python3 -m pytest -q -rs $par -m "needs_cuda or tensorrt" -p no:cacheprovider tests >"$w/gpu-tests.txt" 2>&1
wait
grep -E "passed|failed|error|crashed|FAILED" "$w/gpu-tests.txt" | tail -12
for f in "$w"/aoti-*.txt; do echo "$(basename "$f"): $(grep -E '^ok|rc=|Error|Segmentation' "$f" | tr '\n' ' ' | cut -c1-300)"; done
if grep -q "rc=[^0]" "$w"/aoti-0-*.txt; then  # native backtrace of the in-process build's crash
  (timeout 200 cuda-gdb -q -batch -ex "set pagination off" -ex run -ex bt -ex "info sharedlibrary" \
     --args python3 scripts/gpu_aoti_check.py 0 >"$w/aoti-gdb.txt" 2>&1) &
fi
budget=$(( end - SECONDS - 20 ))
echo "probe gets ${budget}s"
timeout -s INT "$budget" python3 -m edgebench run --device cuda --batch-size 1 --out "$w/run" --no-progress \
  --models densenet3d,conv_autoencoder,c3d,alexnet --backends pytorch,torch-compile@fp16:triton_conv=0,torch-compile@fp16 \
  --min-iters 100 --min-time-s 1 --db "$w/run/edgebench.sqlite" 2>&1 | tee "$w/run.log" | tail -30
wait
tar czf "$out/r5.tgz" -C /tmp r5
grep -A12 "bt\b\|SIGSEGV" "$w/aoti-gdb.txt" 2>/dev/null | head -40
