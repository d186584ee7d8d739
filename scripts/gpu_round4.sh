#!/usr/bin/env bash
# Device run: the batch-1 suite on GPU-trained weights, resumable across calls on one warm
# machine (checkpoints, cache and store live in /tmp there). First call: training on the
# synthetic sets beside the GPU-marked tests, the host-overhead probe, then the suite; a call
# with RESUME=1 continues the same run (edgebench run --resume). Reports and store -> OUT.
# B128=MODELS (comma-separated): afterwards, those models at batch 128 (pytorch vs torch-compile
# FP16) within B128_S seconds (default 150), reports -> OUT/b128-*.
# AOTI_STRESS=1: beside the tests, three concurrent aot-inductor builds of one model in child
# processes (the default) and three in their own processes sharing Inductor's cache -> OUT/aoti.txt.
# HOST_PROBE=0 skips the host-overhead probe.
# Usage: scripts/gpu_round4.sh OUT END_SECONDS [edgebench run args...]
set -uo pipefail
out=${1:?OUT}; end=${2:?END_SECONDS}; shift 2
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1 EDGEBENCH_CACHE=/tmp/edgebench-cache
eb=/tmp/eb; mkdir -p "$eb" "$out"
resume=()
if [ "${RESUME:-0}" = 1 ]; then
  resume=(--resume)
else
  bash scripts/gpu_train_suite.sh "$out" 0 >/tmp/eb-train.log 2>&1 &
  if [ "${AOTI_STRESS:-0}" = 1 ]; then
    mkdir -p /tmp/aoti
    for i in 1 2 3; do for b in 1 0; do
      (timeout 300 python3 scripts/gpu_aoti_check.py $b >"/tmp/aoti/$b-$i.txt" 2>&1; echo "rc=$?" >>"/tmp/aoti/$b-$i.txt") &
    done; done
  fi
  par=$(python3 -c 'import xdist' 2>/dev/null && echo "-n 2")
  timeout -s INT 200 python3 -m pytest -q -rs $par -m "needs_cuda or tensorrt" -p no:cacheprovider tests \
    >"$out/gpu-tests.txt" 2>&1
  tail -4 "$out/gpu-tests.txt"
  wait; cat "$out/train.txt"
  if [ "${AOTI_STRESS:-0}" = 1 ]; then
    for f in /tmp/aoti/*.txt; do echo "build_process=$(basename "$f" .txt): $(grep -E '^ok|rc=|Error' "$f" | tr '\n' ' ' | cut -c1-200)"; done \
      | tee "$out/aoti.txt"
  fi
  [ "${HOST_PROBE:-1}" = 1 ] && timeout 60 python3 scripts/gpu_host_overhead.py "$out/host-overhead.json" --models resnet50,c3d | cut -c1-600
fi
budget=$(( end - SECONDS ))
echo "suite gets ${budget}s"
SKIP_TESTS=1 bash scripts/gpu_suite.sh "$eb" 1 "$budget" --weights-dir /tmp/edgebench-train/ft \
  --db "$eb/edgebench.sqlite" "${resume[@]}" "$@" | tail -25
cp "$eb/env.txt" "$eb/table1.md" "$eb/figure4_speedup.png" "$eb/edgebench.sqlite" "$out/" 2>/dev/null
if [ -n "${B128:-}" ]; then
  SKIP_TESTS=1 bash scripts/gpu_suite.sh /tmp/eb128 128 "${B128_S:-150}" --models "$B128" \
    --backends pytorch,torch-compile@fp16 --min-time-s 1 --repetitions 2 --db /tmp/eb128/edgebench.sqlite | tail -8
  for f in table1.md edgebench.sqlite; do cp "/tmp/eb128/$f" "$out/b128-$f" 2>/dev/null; done
fi
