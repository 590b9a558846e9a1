#!/usr/bin/env bash
# Augmentation throughput, shardsmith vs torchvision, on the same workload:
# RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)) over
# 60,000 28x28 images on 2 workers. Prints both figures and the ratio
# against torchvision's faster input form, by wall clock and per CPU-second
# (the second is the steadier one on a machine shared with other jobs).
#
#   bench/augment/run.sh            # from the repository root
#   WORKERS=1 RUNS=3 OURS_RUNS=9 bench/augment/run.sh
#
# torchvision comes from Debian's python3-torchvision (apt-get install -y
# python3-torch python3-torchvision libopenblas0-pthread); set PYTHON to use
# another interpreter.
set -euo pipefail
cd "$(dirname "$0")/../.."

WORKERS=${WORKERS:-2}
RUNS=${RUNS:-5}
OURS_RUNS=${OURS_RUNS:-15} # ours takes a fraction of a second per run: more runs, steadier median
N=${N:-60000}
PYTHON=${PYTHON:-/usr/bin/python3}

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/augment-bench" ./bench/augment

ours=$("$bin/augment-bench" -n "$N" -workers "$WORKERS" -runs "$OURS_RUNS")
echo "$ours"
ours_rate=$(sed -n 's/.*median \([0-9]*\) images\/s.*/\1/p' <<<"$ours")
ours_cpu=$(sed -n 's/.* \([0-9]*\) images\/cpu-s.*/\1/p' <<<"$ours")

theirs=$("$PYTHON" bench/augment/torchvision_affine.py --n "$N" --workers "$WORKERS" --runs "$RUNS")
grep -v '^best ' <<<"$theirs"
read -r _ their_rate their_form their_cpu < <(grep '^best ' <<<"$theirs")

awk -v o="$ours_rate" -v t="$their_rate" -v oc="$ours_cpu" -v tc="$their_cpu" -v f="$their_form" -v w="$WORKERS" 'BEGIN {
	printf "ratio (wall clock): shardsmith %.0f / torchvision (%s) %.0f images/s on %d workers = %.1fx\n", o, f, t, w, o / t
	printf "ratio (per CPU-second): shardsmith %.0f / torchvision (%s) %.0f images/cpu-s = %.1fx\n", oc, f, tc, oc / tc
}'
