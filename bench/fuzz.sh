#!/usr/bin/env bash
# Long fuzzing run of every target in .ci/fuzz-targets, for before a release.
#
#   bench/fuzz.sh [-m MINUTES] [-mode uninstrumented|instrumented|both] [-only REGEXP] [-o FILE]
#
# Each target is fuzzed for MINUTES (default 10, fractions allowed) in each
# mode: "uninstrumented" (a test binary without coverage instrumentation,
# many times more inputs per second, no coverage guidance), "instrumented"
# (go test -fuzz, coverage-guided) or both (the default). It prints one
# tab-separated line per run: target, package, mode, minutes, executions,
# executions per second, findings (new failing inputs in the package's
# testdata/fuzz/<target>/); -o also writes the lines to FILE, which
# `go test ./reliability -update` turns into RELIABILITY.md's fuzzing
# figures when FILE is reliability/testdata/fuzz-run.tsv. A target stops at
# its first finding; every finding is a failing input to fix and commit as
# a corpus entry. Exits 1 if any run found something.
set -uo pipefail
cd "$(dirname "$0")/.."
. .ci/fuzzlib.sh

minutes=10 mode=both only=. out=
while (($# > 0)); do
	case $1 in
	-m) minutes=$2; shift 2 ;;
	-mode) mode=$2; shift 2 ;;
	-only) only=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	*) echo "usage: $0 [-m MINUTES] [-mode uninstrumented|instrumented|both] [-only REGEXP] [-o FILE]" >&2; exit 2 ;;
	esac
done
case $mode in
both) modes=(uninstrumented instrumented) ;;
uninstrumented | instrumented) modes=("$mode") ;;
*) echo "fuzz: -mode $mode: want uninstrumented, instrumented or both" >&2; exit 2 ;;
esac
secs="$(awk -v m="$minutes" 'BEGIN { s = int(m * 60 + 0.5); if (s < 1) exit 1; print s }')" ||
	{ echo "fuzz: -m $minutes: want a positive number of minutes" >&2; exit 2; }
export FUZZMINIMIZETIME="${FUZZMINIMIZETIME:-5s}"
. .ci/fuzzlib.sh

fuzz_check_targets || exit 1
FUZZ_BIN_DIR="$(mktemp -d)"
logdir="$(mktemp -d)"
trap 'rm -rf "$FUZZ_BIN_DIR" "$logdir"' EXIT
lines=() found=0
printf 'target\tpackage\tmode\tminutes\texecs\texecs/s\tfindings\n'
while read -r pkg name _; do
	grep -qE -- "$only" <<<"$pkg $name" || continue
	for m in "${modes[@]}"; do
		corpus="${pkg#./}/testdata/fuzz/$name"
		before="$(ls "$corpus" 2>/dev/null | sort)"
		log="$logdir/$name.$m.log"
		fuzz_run "$m" "$pkg" "$name" "${secs}s" "$log" >/dev/null
		status=$?
		new="$(comm -13 <(echo "$before") <(ls "$corpus" 2>/dev/null | sort) | grep -c .)"
		if ((status != 0 && new == 0)) && ! fuzz_deadline_race "$log"; then
			echo "fuzz: $pkg $name ($m) failed without a new input:" >&2
			tail -n 20 "$log" >&2
			new=1
		fi
		execs="$(fuzz_execs "$log")"
		line="$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s' "$name" "${pkg#./}" "$m" "$minutes" "${execs:-0}" \
			"$(awk -v e="${execs:-0}" -v s="$secs" 'BEGIN { printf "%d", e / s }')" "$new")"
		echo "$line"
		lines+=("$line")
		((new > 0)) && found=1 && comm -13 <(echo "$before") <(ls "$corpus" 2>/dev/null | sort) | sed "s#^#fuzz: finding: $corpus/#" >&2
	done
done < <(fuzz_targets)
if [[ -n $out ]]; then
	{
		printf 'target\tpackage\tmode\tminutes\texecs\texecs/s\tfindings\n'
		printf '%s\n' "${lines[@]}"
	} >"$out"
fi
exit $found
