#!/usr/bin/env bash
# Before/after benchmark of a change, in one run: prep against its floor
# (bench/prep), the augment stage (bench/augment) and the trainer's step
# benchmarks (trainer/nn MLPStep, CNNStep), built at BASE and at the working
# tree and run alternately, ROUNDS times, so both sides see the same machine.
#
#   bench/regress.sh BASE [ROUNDS]        (ROUNDS defaults to 3)
#
# Prints one line per measurement, side and round, then the median of each
# measurement per side. Lower is better for seconds and ms/op, higher for
# images/s.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bench/regress.sh BASE [ROUNDS]}
rounds=${2:-3}
head=$PWD
work=$(mktemp -d)
cleanup() {
  git worktree remove --force "$work/base" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
git worktree add -q --detach "$work/base" "$base"

build() { # side dir
  (cd "$2" && go build -o "$work/$1-prep" ./bench/prep &&
    go build -o "$work/$1-augment" ./bench/augment &&
    go test -c -o "$work/$1-nn.test" ./trainer/nn)
}
build base "$work/base"
build head "$head"

results=$work/results.tsv
measure() { # side dir round
  local side=$1 dir=$2 r=$3
  (cd "$dir" && "$work/$side-prep" -runs 3 -big=false) |
    awk -v s="$side" -v r="$r" '/^prep run configs/ {print "prep_seconds\t" s "\t" r "\t" $NF} /^floor/ {print "floor_seconds\t" s "\t" r "\t" $NF}'
  "$work/$side-augment" -runs 5 |
    sed -n 's/.*median \([0-9.]*\) images\/s.*/augment_images_per_s\t'"$side"'\t'"$r"'\t\1/p'
  (cd "$dir/trainer/nn" && "$work/$side-nn.test" -test.run '^$' -test.bench '^Benchmark(MLP|CNN)Step$' -test.benchtime 30x) |
    awk -v s="$side" -v r="$r" '/^Benchmark/ {n=$1; sub(/-[0-9]+$/, "", n); sub(/^Benchmark/, "", n); print n "_ms_per_step\t" s "\t" r "\t" $3/1e6}'
}
for r in $(seq "$rounds"); do
  measure base "$work/base" "$r" | tee -a "$results"
  measure head "$head" "$r" | tee -a "$results"
done
echo
echo "median over $rounds rounds (base $(git rev-parse --short "$base"), head $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes')):"
sort -k1,1 -k2,2 -k4,4g "$results" | awk -F'\t' '
  { key = $1 "\t" $2; v[key, ++n[key]] = $4; if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
  END { for (i = 1; i <= k; i++) { key = order[i]; m = n[key]; printf "%-28s %s\n", key, v[key, int((m + 1) / 2)] } }'
