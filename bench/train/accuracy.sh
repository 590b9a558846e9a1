#!/usr/bin/env bash
# Accuracy runs behind the table in BENCHMARKS.md: trains each recipe on the
# shards of its config and prints the test accuracy and val accuracy per epoch.
#
#   bench/train/accuracy.sh            all recipes (about 50 minutes on 2 cores)
#   bench/train/accuracy.sh cnn-b64    only the recipes whose name contains cnn-b64
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
)
printf '%-26s %-16s %9s  %s\n' recipe config test_acc "val accuracy per epoch"
for r in "${recipes[@]}"; do
  IFS='|' read -r name cfg flags <<<"$r"
  [[ -z "$filter" || "$name" == *"$filter"* ]] || continue
  [ -d "$work/out-$cfg" ] || "$work/prep" run "configs/$cfg.yaml" --out "$work/out-$cfg" --quiet >/dev/null
  # shellcheck disable=SC2086
  "$work/trainer" --shards "$work/out-$cfg" $flags --out "$work/run-$name" --json --quiet >"$work/$name.json"
  python3 - "$work/$name.json" "$name" "$cfg" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
vals = " ".join("%.4f" % h["val_accuracy"] for h in d["history"])
print("%-26s %-16s %9.4f  %s" % (sys.argv[2], sys.argv[3], d["test_accuracy"], vals))
PY
done
