#!/usr/bin/env bash
# Device run: the aot-inductor load fix. Beside the aot-inductor GPU test, the tiny model built
# and loaded at FP16 and FP32 with the default compiler (g++) and once with the machine's $CXX
# (expected: a BuildError, not a crash); then aot-inductor in the suite for a few models.
# Usage: scripts/gpu_round6.sh OUT END_SECONDS MODELS
set -uo pipefail
out=${1:?OUT}; end=${2:?END_SECONDS}; models=${3:?MODELS}
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1 EDGEBENCH_CACHE=/tmp/edgebench-cache
mkdir -p "$out" /tmp/r6
echo "CXX=${CXX:-unset}"
c() { timeout 300 python3 scripts/gpu_aoti_check.py "$@" 2>&1 | grep -E "^ok|Error" | tail -1 | cut -c1-400; echo "  [$*] rc=${PIPESTATUS[0]}"; }
{ c 1 fp16 >/tmp/r6/a.txt & c 1 fp32 >/tmp/r6/b.txt & c 1 fp16 "${CXX:-g++}" >/tmp/r6/c.txt &
  timeout -s INT 300 python3 -m pytest -q -rs -p no:cacheprovider tests/backends/test_torch_native.py -k "aot" >/tmp/r6/t.txt 2>&1; wait; }
cat /tmp/r6/a.txt /tmp/r6/b.txt /tmp/r6/c.txt | tee "$out/aoti-checks.txt"; tail -3 /tmp/r6/t.txt | tee -a "$out/aoti-checks.txt"
budget=$(( end - SECONDS ))
echo "suite gets ${budget}s"
timeout -s INT "$budget" python3 -m edgebench run --device cuda --batch-size 1 --out /tmp/r6/run --no-progress --models "$models" \
  --backends pytorch,aot-inductor@fp16,torch-compile@fp16 --min-iters 100 --min-time-s 1 --db /tmp/r6/run/edgebench.sqlite 2>&1 | tail -12
cp /tmp/r6/run/table1.md /tmp/r6/run/edgebench.sqlite "$out/" 2>/dev/null
