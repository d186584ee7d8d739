#!/usr/bin/env bash
# Device run: train every suite model on the GPU on edgebench's synthetic sets (circles vs squares
# for the classifiers, four motions in UCF50 layout for the clip models), then run the batch-1
# suite on those weights. Checkpoints go to CK (default /tmp/edgebench-train/ft, outside the
# repository copy; training is skipped when CK/done exists). END_SECONDS 0: train only.
# Usage: scripts/gpu_train_suite.sh OUT END_SECONDS [edgebench run args...]
# (the suite gets what is left of END_SECONDS after training, SIGINT at the end; MODELS: the
# models to train, comma-separated, default all eleven; pass the same list to the suite with
# --models). The repository copy on the device machine does not keep ignored folders between
# calls, so training and the suite must share one call: ~150-170 s of training for all eleven on
# an H200, and ~45 s a model for the suite at --min-time-s 2 with three repetitions (fewer
# repetitions or a shorter --min-time-s fit all eleven in one 600 s call).
set -uo pipefail
out=${1:?OUT}; end=${2:?END_SECONDS}; shift 2
ck=${CK:-/tmp/edgebench-train/ft}; data=${DATA:-/tmp/edgebench-train/data}
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1 EDGEBENCH_CACHE=/tmp/edgebench-cache
mkdir -p "$out" "$ck"
eb() { python3 -m edgebench "$@"; }
if [ ! -f "$ck/done" ]; then
  eb data synth "$data/img" --task image --per-class 100 >/dev/null && eb data synth "$data/vid" --task video >/dev/null
  want=",${MODELS:-alexnet,vgg19,resnet50,squeezenet1_1,densenet121,shufflenet_v2_x1_0,mobilenet_v2,resnext50_32x4d,c3d,conv_autoencoder,densenet3d},"
  for m in alexnet vgg19 resnet50 squeezenet1_1 densenet121 shufflenet_v2_x1_0 mobilenet_v2 resnext50_32x4d; do
    [[ $want == *",$m,"* ]] || continue
    lr=1e-3; case $m in alexnet|vgg19) lr=1e-4;; esac
    eb train $m --data "$data/img" --epochs 10 --patience 4 --batch-size 16 --lr $lr --device cuda --out "$ck/$m.pt" \
      --no-progress 2>&1 | grep -E "best validation" | sed "s/^/$m: /" | tee -a "$out/train.txt"
  done
  for m in c3d conv_autoencoder densenet3d; do
    [[ $want == *",$m,"* ]] || continue
    eb train $m --data "$data/vid" --epochs 10 --patience 4 --device cuda --out "$ck/$m.pt" --no-progress 2>&1 \
      | grep -E "best validation" | sed "s/^/$m: /" | tee -a "$out/train.txt"
  done
  touch "$ck/done"
fi
[ "$end" = 0 ] && exit 0
budget=$(( end - SECONDS ))
echo "training done after ${SECONDS}s; suite gets ${budget}s"
SKIP_TESTS=1 bash scripts/gpu_suite.sh "$out" 1 "$budget" --weights-dir "$ck" "$@"
