#!/usr/bin/env bash
# The checks that need a GPU, prepared to run once in the few minutes a session may be lent a
# GPU machine (about 8 minutes in all, each step under its own time limit): the bundled
# models against exact topology on CUDA, the service on CUDA under load (teacher and
# student), and a training run under torchrun with NCCL (one process: the machine has one
# GPU, and NCCL refuses two ranks on one device). Each step's output goes to
# $OUT/<step>.txt with its exit status; a step that fails or runs out of time does not stop
# the next one.
#
#     OUT=/tmp/gpu bash benchmarks/gpu_session.sh            # on the GPU machine
#     DEVICE=cpu QUICK=1 bash benchmarks/gpu_session.sh      # rehearsal on a CPU
#
# DEVICE=cpu runs the same steps on the CPU (gloo for torchrun); QUICK=1 shortens the loads.
set -uo pipefail
cd "$(dirname "$0")/.."

DEVICE=${DEVICE:-cuda}
OUT=${OUT:-runs/gpu-session}
QUICK=${QUICK:-0}
DURATION=$([ "$QUICK" = 1 ] && echo 2 || echo 10)
mkdir -p "$OUT"

step() {  # step NAME SECONDS COMMAND...: run it, keep its output, show its tail
    local name=$1 limit=$2
    shift 2
    echo "== $name (at most ${limit} s): $*"
    local start=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
    local status=$?
    echo "exit status $status after $((SECONDS - start)) s" >>"$OUT/$name.txt"
    tail -n 15 "$OUT/$name.txt"
}

# Every declared dependency this machine lacks, named at once before a step needs it.
step dependencies 30 python benchmarks/dependencies.py
step environment 60 python -c "
import torch, onnxruntime, pinet, service
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())
if torch.cuda.is_available():
    print(torch.cuda.get_device_name(0))
print('onnxruntime', onnxruntime.__version__)
"
step bundled_models 120 python benchmarks/bundled_models.py --device "$DEVICE"
step inference 150 python benchmarks/inference.py --device "$DEVICE" \
    --checkpoint-signal signal-broad --checkpoint-image image-photos --rips-images 1
step service_load 180 python benchmarks/service_load.py --device "$DEVICE" \
    --model signal-broad --model signal-broad-student --duration "$DURATION" \
    --json "$OUT/service_load.json"
step ddp_store 60 python -m data_prep generate --source synthetic-signals \
    --option count=600 --option length=250 --out "$OUT/ddp-store.zarr"
step ddp_train 120 torchrun --standalone --nproc_per_node 1 -m pinet train \
    --data "$OUT/ddp-store.zarr" --model signal --per-channel --widths 8,16,16,32 \
    --epochs 2 --batch-size 64 --device "$DEVICE" --no-progress --out "$OUT/ddp-run"
echo "outputs in $OUT"
