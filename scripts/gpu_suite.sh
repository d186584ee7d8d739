#!/usr/bin/env bash
# Runs edgebench's GPU measurements on a CUDA machine that already has torch/torchvision/onnx
# (the lent H100/H200 image): the GPU-marked tests, then the default suite at one batch size.
# Usage: scripts/gpu_suite.sh OUT_DIR BATCH [SUITE_SECONDS] [extra `edgebench run` args...]
# (SKIP_TESTS=1: no tests; TESTS_S: their time limit; SUITE_SECONDS 0: no suite)
set -uo pipefail
out=${1:?OUT_DIR}; batch=${2:?BATCH}; budget=${3:-420}; shift 3 || shift $#
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 EDGEBENCH_CACHE=/tmp/edgebench-cache
mkdir -p "$out"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
  python3 -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)'
} 2>&1 | tee "$out/env.txt"
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  # with pytest-xdist, tests run in worker processes: a crashing test is named, the others go on
  par=$(python3 -c 'import xdist' 2>/dev/null && echo "-n 2")
  timeout -s INT "${TESTS_S:-200}" python3 -m pytest -q -rs $par -m "needs_cuda or tensorrt" -p no:cacheprovider tests \
    >"$out/gpu-tests.txt" 2>&1
  grep -E "passed|failed|error|crashed|FAILED" "$out/gpu-tests.txt" | tail -15
fi
[ "$budget" = 0 ] && exit 0
# SIGINT on overrun: edgebench keeps every finished row and still writes the reports
timeout -s INT "$budget" python3 -m edgebench run --device cuda --batch-size "$batch" --out "$out" --no-progress "$@" 2>&1 | tee "$out/run.log" | tail -40
