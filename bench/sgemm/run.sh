#!/bin/sh
# Measure SGEMM GFLOP/s of trainer/kernels (every kernel set), gonum, and the
# BLAS behind Debian's PyTorch 1.13 (OpenBLAS 0.3.21), PyPI's PyTorch 2.x (MKL)
# and PyPI's numpy (OpenBLAS) on the same machine and print one table.
#
# Usage: bench/sgemm/run.sh [-trainer] [-sizes 256,512,1024] [-threads 1,2]
#                           [-samples 15] [-sample 0.05] [-rounds 3]
#
# The Go harness and the PyTorch script take turns for -rounds rounds, so
# that load from other processes falls on both alike. Each cell is
# "median/best" in GFLOP/s: the median over all samples of all rounds and the
# best single sample. On a shared machine the best sample is the better
# estimate of what the code can do; the median shows how much other load got
# in the way. The Debian column needs
# python3-torch and libopenblas0-pthread, the others bench/.venv
# (bench/setup-venv.sh); a missing interpreter's columns are left out.
# BLASES="python:library ..." overrides the list (library: torch or numpy).
set -eu

sizes=256,512,1024
threads="1,$(nproc)"
samples=15
sample=0.05
rounds=3
trainer=
while [ $# -gt 0 ]; do
	case "$1" in
	-trainer) trainer=1 ;;
	-sizes) sizes=$2; shift ;;
	-threads) threads=$2; shift ;;
	-samples) samples=$2; shift ;;
	-sample) sample=$2; shift ;;
	-rounds) rounds=$2; shift ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$dir" && go build -o "$tmp/sgemm" .)
venv=$dir/../.venv/bin/python
blases=
for pl in ${BLASES:-/usr/bin/python3:torch $venv:torch $venv:numpy}; do
	py=${pl%:*} lib=${pl##*:}
	if "$py" -c "import torch, $lib" 2>/dev/null; then
		blases="$blases $pl"
	else
		echo "run.sh: no $lib for $py: its column is left out (python3-torch libopenblas0-pthread; bench/setup-venv.sh)" >&2
	fi
done
: >"$tmp/all.tsv"
r=0
while [ "$r" -lt "$rounds" ]; do
	"$tmp/sgemm" -sizes "$sizes" ${trainer:+-trainer} -threads "$threads" \
		-samples "$samples" -sample "${sample}s" -raw >>"$tmp/all.tsv"
	for pl in $blases; do
		for t in $(echo "$threads" | tr , ' '); do
			"${pl%:*}" "$dir/torch_sgemm.py" --library "${pl##*:}" --sizes "$sizes" ${trainer:+--trainer} \
				--threads "$t" --samples "$samples" --sample "$sample" --raw >>"$tmp/all.tsv"
		done
	done
	r=$((r + 1))
done

grep '^#' "$tmp/all.tsv" | sort -u
# Pivot: one row per (shape, threads), one column per library/kernel set;
# input lines are library, kernel set, threads, shape, one sample's GFLOP/s.
grep -v '^#' "$tmp/all.tsv" | awk -F '\t' '
	{
		col = ($1 == "shardsmith") ? $2 : $1
		key = $4 "\t" $3
		if (!(key in seen)) { seen[key] = 1; rows[++nr] = key }
		if (!(col in cseen)) { cseen[col] = 1; cols[++nc] = col }
		# Insertion sort keeps the samples of each cell in ascending order.
		n = ++count[key, col]
		for (i = n; i > 1 && val[key, col, i - 1] > $5 + 0; i--)
			val[key, col, i] = val[key, col, i - 1]
		val[key, col, i] = $5 + 0
	}
	END {
		printf "%-20s %7s", "shape", "threads"
		for (c = 1; c <= nc; c++) printf " %13s", cols[c]
		printf "\n"
		for (r = 1; r <= nr; r++) {
			split(rows[r], kt, "\t")
			printf "%-20s %7s", kt[1], kt[2]
			for (c = 1; c <= nc; c++) {
				n = count[rows[r], cols[c]]
				if (n == 0) { printf " %13s", "-"; continue }
				med = val[rows[r], cols[c], int((n + 1) / 2)]
				printf " %13s", sprintf("%.1f/%.1f", med, val[rows[r], cols[c], n])
			}
			printf "\n"
		}
	}'
