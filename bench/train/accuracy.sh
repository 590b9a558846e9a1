#!/usr/bin/env bash
# Accuracy runs behind the table in BENCHMARKS.md: trains each recipe on the
# shards of its config and prints the test accuracy and val accuracy per epoch.
#
#   bench/train/accuracy.sh            all recipes (the CNN and MLP ones: about 50 minutes on 2 cores;
#                                      the ViT's 20 augmented epochs: hours)
#   bench/train/accuracy.sh cnn-b64    only the recipes whose name contains cnn-b64
#   SEEDS="1 2 3" bench/train/accuracy.sh vit-1   every recipe once per seed
#
# Timing figures of these runs are not the benchmark (bench/train/run.sh is);
# accuracy is what they are for.
set -euo pipefail
cd "$(dirname "$0")/../.."
filter=${1:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/prep" ./cmd/prep
go build -o "$work/trainer" ./cmd/trainer

# name | config | trainer flags
recipes=(
  "mlp-cosine|mnist|--model mlp --epochs 10 --schedule cosine"
  "cnn-constant|mnist|--model cnn --epochs 3"
  "cnn-b64-warmup-cosine|mnist|--model cnn --epochs 3 --batch-size 64 --lr 2e-3 --warmup-epochs 0.2 --schedule cosine"
  "cnn-augmented-3|mnist-augmented|--model cnn --epochs 3"
  "cnn-augmented-8-cosine|mnist-augmented|--model cnn --epochs 8 --schedule cosine"
  "cnn-augmented-18|mnist-augmented|--model cnn --epochs 18 --batch-size 64 --lr 2e-3 --warmup-epochs 0.3 --schedule cosine"
  "cnn-fashion-augmented-10|fashion-mnist-augmented|--model cnn --epochs 10"
  # The ViT's recipe is its default (batch 16, AdamW 1e-3, decay 0.05, clipping 1, warm-up 5 %, cosine).
  "vit-1|mnist|--model vit --epochs 1"
  "vit-augmented-20|mnist-augmented|--model vit --epochs 20"
  "vit-patch7-augmented-20|mnist-augmented|--model vit --patch 7 --epochs 20"
  # The 20-epoch ViT that meets >= 0.994: 16 tokens, stochastic depth and label smoothing (BENCHMARKS.md, Accuracy).
  "vit-patch7-dp-ls-augmented-20|mnist-augmented|--model vit --patch 7 --drop-path 0.1 --label-smoothing 0.1 --epochs 20"
)
SEEDS=${SEEDS:-1}
printf '%-26s %-16s %4s %9s  %s\n' recipe config seed test_acc "val accuracy per epoch"
for r in "${recipes[@]}"; do
  IFS='|' read -r name cfg flags <<<"$r"
  [[ -z "$filter" || "$name" == *"$filter"* ]] || continue
  [ -d "$work/out-$cfg" ] || "$work/prep" run "configs/$cfg.yaml" --out "$work/out-$cfg" --quiet >/dev/null
  for seed in $SEEDS; do
    # shellcheck disable=SC2086
    "$work/trainer" --shards "$work/out-$cfg" $flags --seed "$seed" --out "$work/run-$name-$seed" --json --quiet >"$work/$name-$seed.json"
    python3 - "$work/$name-$seed.json" "$name" "$cfg" "$seed" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
vals = " ".join("%.4f" % h["val_accuracy"] for h in d["history"])
print("%-26s %-16s %4s %9.4f  %s" % (sys.argv[2], sys.argv[3], sys.argv[4], d["test_accuracy"], vals))
PY
  done
done
