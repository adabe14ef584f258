#!/usr/bin/env bash
# One-shot driver: classifier -> UNet -> ONNX export -> onnxruntime check -> evaluation.
# Run from the repository root. Needs .scratch/data/mnist10k.npz (prepare_data.py).
#   UNET_STEPS    step count of the UNet training (default 9500, as the committed model;
#                 0 = chosen from UNET_SECONDS after timing)
#   UNET_SECONDS  wall-clock limit of the UNet training (default 0 = none; with UNET_STEPS=0
#                 it sets the step count). The committed model: SKIP_PREFLIGHT=1
#                 UNET_SECONDS=440 UNET_STEPS=0 on an H100, which chose 9500 steps.
#   SKIP_PREFLIGHT  set to skip the quick export check of an untrained UNet
#   OUT           if set, a bundle of the results and the checkpoints are copied there
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
T=tools/digits-model
UNET_SECONDS=${UNET_SECONDS:-0}
UNET_STEPS=${UNET_STEPS:-9500}
CK=${CK:-.scratch/ck}
mkdir -p "$CK" $T/results
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
start=$(date +%s)
bundle() {
  if [ -n "${OUT:-}" ]; then
    tar cf "$OUT/bundle.tar" --ignore-failed-read models/digits models/classifier $T/results \
        docs/images/digits-grid-python.png 2>/dev/null || true
  fi
}
trap bundle EXIT
stamp() { echo "=== [$(( $(date +%s) - start ))s] $*"; }

stamp "environment"
$PY -c "import torch, numpy, onnx, onnxruntime as o; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '', 'onnx', onnx.__version__, 'ort', o.__version__)"

if [ -z "${SKIP_PREFLIGHT:-}" ]; then
stamp "preflight: export + verify an untrained UNet (20 steps)"
$PY $T/train_unet.py --steps 20 --log-every 10 --out-dir "$CK/pre/digits" --loss-csv "$CK/pre/loss.csv" \
    --checkpoint "$CK/pre/unet.pt"
$PY $T/verify_onnx.py --unet-onnx "$CK/pre/digits/unet/model.onnx" --unet-checkpoint "$CK/pre/unet.pt" \
    --classifier-onnx ""
fi

stamp "classifier"
$PY $T/train_classifier.py --checkpoint "$CK/classifier.pt" --epochs "${CLS_EPOCHS:-40}"

stamp "unet"
$PY $T/train_unet.py --steps "$UNET_STEPS" --max-seconds "$UNET_SECONDS" --checkpoint "$CK/unet_ema.pt"
if [ -n "${OUT:-}" ]; then cp "$CK/unet_ema.pt" "$CK/classifier.pt" "$OUT/"; fi

stamp "verify onnx"
$PY $T/verify_onnx.py --unet-checkpoint "$CK/unet_ema.pt" --classifier-checkpoint "$CK/classifier.pt" \
    --report $T/results/onnx_verify.json

stamp "evaluate (torch, DDIM 20 steps, guidance 3)"
$PY $T/evaluate.py --unet-checkpoint "$CK/unet_ema.pt" --classifier-checkpoint "$CK/classifier.pt" \
    --onnx-check

stamp "evaluate through onnxruntime (CPU, 20 per class)"
timeout ${ORT_EVAL_SECONDS:-60} $PY $T/evaluate.py --backend onnx --per-class 20 --extra "" --grid "" \
    --metrics $T/results/metrics_onnxruntime.json || echo "onnxruntime evaluation skipped/timed out"

stamp "done"
