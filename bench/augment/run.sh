#!/usr/bin/env bash
# Augmentation throughput: shardsmith against torchvision (Debian's 0.14 on torch 1.13,
# transforms v1), torchvision 0.2x transforms.v2 and albumentations (both from
# bench/.venv, see bench/setup-venv.sh), on the same workload: 60,000 random 28x28
# images through RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))
# and through an elastic distortion (alpha 34, sigma 4), on 1 and 2 workers.
# Every configuration runs ours and then each Python library in turn, so outside
# load falls on all of them alike. Prints one line per run and a table of the
# median images/s (wall) and images per CPU-second (steadier on a shared machine),
# with ours / best other.
#
#   bench/augment/run.sh                       # from the repository root
#   OPS=affine WORKERS="2" RUNS=3 OURS_RUNS=9 N=60000 bench/augment/run.sh
#
# Needs Debian's python3-torch python3-torchvision libopenblas0-pthread for the
# 1.13 column (skipped if missing) and bench/.venv for the others (skipped if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."

OPS=${OPS:-affine elastic}
WORKERS=${WORKERS:-1 2}
RUNS=${RUNS:-3}
OURS_RUNS=${OURS_RUNS:-9} # ours takes a fraction of a second per run: more runs, steadier median
N=${N:-60000}
DEBIAN_PY=${DEBIAN_PY:-/usr/bin/python3}
VENV_PY=${VENV_PY:-bench/.venv/bin/python}

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/augment-bench" ./bench/augment
have_debian=; "$DEBIAN_PY" -c 'import torchvision' 2>/dev/null && have_debian=1
have_venv=; [ -x "$VENV_PY" ] && "$VENV_PY" -c 'import torchvision, albumentations' 2>/dev/null && have_venv=1
echo "# $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(go env GOVERSION)"
: >"$bin/rows"
for op in $OPS; do
	for w in $WORKERS; do
		line=$("$bin/augment-bench" -op "$op" -n "$N" -workers "$w" -runs "$OURS_RUNS")
		echo "$line"
		rate=$(sed -n 's/.*median \([0-9]*\) images\/s.*/\1/p' <<<"$line")
		cpu=$(sed -n 's/.* \([0-9]*\) images\/cpu-s.*/\1/p' <<<"$line")
		echo "$op $w shardsmith - $rate $cpu" >>"$bin/rows"
		run_py() { # python lib label
			out=$("$1" bench/augment/torchvision_affine.py --lib "$2" --op "$op" --n "$N" --workers "$w" --runs "$RUNS")
			grep -v '^best ' <<<"$out"
			# every form's line: "... <op> (<form>): ... median R images/s, runs [...], C images/cpu-s"
			grep -v '^best ' <<<"$out" | sed -n 's/.* (\([a-z]*\)): .*median \([0-9]*\) images\/s.* \([0-9]*\) images\/cpu-s.*/\1 \2 \3/p' |
				while read -r form r c; do echo "$op $w $3 $form $r $c" >>"$bin/rows"; done
		}
		[ -n "$have_debian" ] && run_py "$DEBIAN_PY" torchvision torchvision-0.14
		if [ -n "$have_venv" ]; then
			run_py "$VENV_PY" torchvision torchvision-new-v1
			run_py "$VENV_PY" torchvision-v2 torchvision-new-v2
			run_py "$VENV_PY" albumentations albumentations
		fi
	done
done
[ -n "$have_venv" ] && "$VENV_PY" -c 'import torchvision, albumentations; print("# torchvision-new:", torchvision.__version__, " albumentations:", albumentations.__version__)'
echo
echo "| op | workers | library | input | images/s (wall) | images per CPU-second | ours ÷ it (wall) | ours ÷ it (CPU) |"
echo "|---|---|---|---|---|---|---|---|"
awk '$3 == "shardsmith" { o[$1" "$2] = $5; oc[$1" "$2] = $6 }
	{ row[NR] = $0 }
	END { for (i = 1; i <= NR; i++) { split(row[i], f, " "); k = f[1]" "f[2]
		if (f[3] == "shardsmith") printf "| %s | %s | **shardsmith** | uint8 | **%d** | **%d** | | |\n", f[1], f[2], f[5], f[6]
		else printf "| %s | %s | %s | %s | %d | %d | %.1f× | %.1f× |\n", f[1], f[2], f[3], f[4], f[5], f[6], o[k] / f[5], oc[k] / f[6] } }' "$bin/rows"
