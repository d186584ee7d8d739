#!/usr/bin/env bash
# Runs edgebench's GPU measurements on a CUDA machine that already has torch/torchvision/onnx
# (the lent H100/H200 image): the GPU-marked tests, then the default suite at one batch size.
# Usage: scripts/gpu_suite.sh OUT_DIR BATCH [SUITE_SECONDS] [extra `edgebench run` args...]
set -uo pipefail
out=${1:?OUT_DIR}; batch=${2:?BATCH}; budget=${3:-420}; shift 3 || shift $#
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 EDGEBENCH_CACHE=/tmp/edgebench-cache
mkdir -p "$out"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
  python3 -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)'
} 2>&1 | tee "$out/env.txt"
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  timeout -s INT 200 python3 -m pytest -q -m "needs_cuda or tensorrt" -p no:cacheprovider tests 2>&1 | tail -15 | tee "$out/gpu-tests.txt"
fi
# SIGINT on overrun: edgebench keeps every finished row and still writes the reports
timeout -s INT "$budget" python3 -m edgebench run --device cuda --batch-size "$batch" --out "$out" --no-progress "$@" 2>&1 | tee "$out/run.log" | tail -40
