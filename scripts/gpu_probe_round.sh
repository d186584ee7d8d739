#!/usr/bin/env bash
# Device run: the GPU-marked tests of the torch backends, then the variant probe on the models
# that miss 7x at batch 1 (scripts/gpu_probe_variants.py), results under OUT.
set -uo pipefail
out=${1:?OUT_DIR}
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1 EDGEBENCH_CACHE=/tmp/edgebench-cache
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$out/env.txt"
timeout -s INT 150 python3 -m pytest -q -m needs_cuda -p no:cacheprovider tests/backends 2>&1 | tail -15 | tee "$out/gpu-tests.txt"
p() { timeout -s INT "$1" python3 scripts/gpu_probe_variants.py "$out/$2.json" "${@:3}" 2>&1 | grep -v Warning | tee "$out/$2.log" | grep -E '^\{|^[a-z_0-9]+ +(pytorch|torch)' ; }
p 100 mobilenet --models mobilenet_v2,squeezenet1_1 --variants pytorch,torch-compile@fp16 --budget-s 80
p 200 fc --models alexnet,vgg19,c3d --variants pytorch,torch-compile@fp16,torch-compile@fp16:channels_last=0,pytorch@fp16:cuda_graphs=1+cudnn_benchmark=1 --profile alexnet,c3d --budget-s 170
p 120 small3d --models conv_autoencoder,densenet3d --variants pytorch,torch-compile@fp16,torch-compile@fp16:channels_last=0,torch-compile@bf16 --profile densenet3d --budget-s 100
