#!/usr/bin/env bash
# Fine-tuning experiment: pretrain the CNN on digits 0-4, then learn digits
# 5-9 from k = 10 and k = 100 images per class, several ways, against training
# the same CNN from scratch on the same k images. Prints a Markdown table:
# accuracy on the full 5-9 test split and seconds of training.
#
#   bench/finetune/run.sh            (about 5 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${WORK:-$(mktemp -d)}
go build -o "$work/prep" ./cmd/prep
go build -o "$work/trainer" ./cmd/trainer
P="$work/prep"; T="$work/trainer"; out="$work/out"; runs="$work/runs"
for c in mnist-0to4 mnist-5to9-fewshot mnist-5to9-fewshot-k100; do
  "$P" run "configs/$c.yaml" --out "$out" --quiet >/dev/null
done
json() { /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print("%.4f %.1f" % (d["test_accuracy"], d["seconds_per_epoch"]*d["epochs"]))'; }

pre=$("$T" --shards "$out/mnist-0to4" --model cnn --epochs 3 --out "$runs/base" --json --quiet | json)
echo "pretrained on 0-4 (3 epochs): test accuracy on 0-4 and seconds: $pre" >&2

echo "| k per class | method | test accuracy (5-9, 4861 images) | seconds |"
echo "|---|---|---|---|"
for k in 10 100; do
  ds="$out/mnist-5to9-fewshot"; [ "$k" = 100 ] && ds="$out/mnist-5to9-fewshot-k100"
  row() { echo "| $k | $1 | $(echo "$2" | cut -d' ' -f1) | $(echo "$2" | cut -d' ' -f2) |"; }
  row "from scratch (30 epochs)" "$("$T" --shards "$ds" --model cnn --epochs 30 --out "$runs/scratch-$k" --json --quiet | json)"
  row "head only (--freeze features, 30 epochs)" "$("$T" finetune --from "$runs/base" --shards "$ds" --freeze features --epochs 30 --lr 3e-3 --out "$runs/head-$k" --json --quiet | json)"
  row "full fine-tune (--lr-body 1e-4, 30 epochs)" "$("$T" finetune --from "$runs/base" --shards "$ds" --epochs 30 --lr 1e-3 --lr-head 3e-3 --lr-body 1e-4 --out "$runs/full-$k" --json --quiet | json)"
done
