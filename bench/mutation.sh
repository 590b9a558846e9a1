#!/usr/bin/env bash
# Mutation testing of the core packages with gremlins, one package at a time.
#
#   bench/mutation.sh [-o DIR] [-t COEFFICIENT] [-w WORKERS] [-n] [-g] [-rotate] [PACKAGE...]
#
# PACKAGE is a directory relative to the repository root (stages/split) or a
# Go pattern (./formats/...); without one, every core package below is run.
# For each package gremlins (go install
# github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0) mutates the package's
# non-test Go files one mutant at a time and runs that package's tests
# against each; a mutant the tests fail on is KILLED, one they pass on LIVED,
# one in code no test executes NOT COVERED. The script prints one table row
# per package:
#
#   killed lived  not covered  timed out  not viable  efficacy  mutant coverage  seconds
#
# efficacy = killed / (killed + lived), mutant coverage = (killed + lived) /
# (killed + lived + not covered), gremlins' own definitions. Timed-out mutants
# (the test ran past COEFFICIENT times the time of the coverage run; default
# 10, raised from gremlins' 3 because each mutant's run also compiles the
# package and links its test binary, which the coverage run gets from the
# build cache) count in neither. GOFLAGS=-count=1 keeps go test from
# answering the coverage run from its cache, which would make that time,
# and so every timeout, a fraction of a second.
# DIR (default bench/mutation-out, ignored by git) receives per package the
# gremlins log (PKG.log: every mutant with its status) and its JSON report
# (PKG.json); lived mutants are listed under the table. -n is gremlins'
# dry run: find mutants and coverage without running the tests (the killed
# column then counts the covered mutants, which a real run would test).
#
# -w sets gremlins' --workers (default 1: each worker runs a test binary of
# its own, and the machine this was written for has two cores). Do not pass
# gremlins' --test-cpu: v0.6.0 hands "-cpu N" to go test as one argument,
# go test fails to start, and every mutant is reported KILLED.
#
# -g is the goal as a gate: exit 1 when a package's efficacy is below 90 %
# or its mutant coverage below 85 % (TESTING.md). -rotate runs one package
# of the ci list below, chosen by the number of commits in HEAD, so that
# successive CI runs go round the list (what .ci/run does).
#
# Exit status: 0 if every package ran (and, with -g, met the goal), 1 if
# gremlins failed on one (or one missed the goal), 2 for bad usage.
set -uo pipefail
cd "$(dirname "$0")/.."

core=(
	formats/dataset formats/idx formats/manifest formats/shard formats/vocab
	stages/split stages/augment stages/normalize stages/decode stages/images stages/download
	config pipeline
	trainer/optim trainer/data trainer/checkpoint trainer/metrics trainer/nn
	prep
)

# The packages whose mutation run takes about a minute on two cores:
# the rotation of .ci/run.
ci=(stages/split stages/normalize formats/vocab trainer/metrics)

out=bench/mutation-out coef=10 workers=1 dry=() gate=0 rotate=0
usage() { echo "usage: $0 [-o DIR] [-t COEFFICIENT] [-w WORKERS] [-n] [-g] [-rotate] [PACKAGE...]" >&2; exit 2; }
while (($# > 0)); do
	case $1 in
	-o) (($# >= 2)) || usage; out=$2; shift 2 ;;
	-t) (($# >= 2)) || usage; coef=$2; shift 2 ;;
	-w) (($# >= 2)) || usage; workers=$2; shift 2 ;;
	-n) dry=(--dry-run); shift ;;
	-g) gate=1; shift ;;
	-rotate) rotate=1; shift ;;
	-h | --help) usage ;;
	-*) echo "mutation: unknown flag $1" >&2; usage ;;
	*) break ;;
	esac
done
[[ $coef =~ ^[1-9][0-9]*$ ]] || { echo "mutation: -t $coef: want a positive integer" >&2; exit 2; }
[[ $workers =~ ^[1-9][0-9]*$ ]] || { echo "mutation: -w $workers: want a positive integer" >&2; exit 2; }

gremlins=$(command -v gremlins || echo "$(go env GOPATH)/bin/gremlins")
[[ -x $gremlins ]] || {
	echo "mutation: gremlins not found; go install github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0" >&2
	exit 1
}

if ((rotate)); then
	(($# == 0)) || { echo "mutation: -rotate takes no packages" >&2; exit 2; }
	n=$(git rev-list --count HEAD 2>/dev/null || echo $(($(date +%s) / 86400)))
	set -- "${ci[$((n % ${#ci[@]}))]}"
fi

# Expand the arguments (directories or Go patterns) to package directories.
pkgs=()
module=$(go list -m)
for arg in "${@:-${core[@]}}"; do
	arg=${arg#./}
	arg=${arg%/}
	list=$(go list "./$arg") || { echo "mutation: $arg: not a package or pattern" >&2; exit 2; }
	while read -r p; do
		[[ -n $p ]] && pkgs+=("${p#"$module"/}")
	done <<<"$list"
done

mkdir -p "$out"
fmt='%-20s %6s %6s %8s %6s %7s %9s %9s %7s\n'
printf "$fmt" package killed lived "not cov" "t/out" "n/viab" efficacy "mut.cov" seconds
status=0
lived=()
for p in "${pkgs[@]}"; do
	name=${p//\//_}
	log=$out/$name.log
	start=$SECONDS
	GOFLAGS="${GOFLAGS:+$GOFLAGS }-count=1" "$gremlins" unleash --workers "$workers" --timeout-coefficient "$coef" "${dry[@]}" \
		-o "$out/$name.json" "./$p" >"$log" 2>&1
	rc=$?
	secs=$((SECONDS - start))
	# gremlins' summary: "Killed: K, Lived: L, Not covered: N" and
	# "Timed out: T, Not viable: V, Skipped: S".
	# A dry run prints "Runnable: R, Not covered: N" instead; its runnable
	# mutants go in the killed column.
	if [[ ${#dry[@]} -gt 0 ]]; then
		read -r k n <<<"$(sed -n 's/.*Runnable: \([0-9]*\), Not covered: \([0-9]*\).*/\1 \2/p' "$log" | tail -1)"
		l=0 t=0 v=0
	else
		read -r k l n <<<"$(sed -n 's/.*Killed: \([0-9]*\), Lived: \([0-9]*\), Not covered: \([0-9]*\).*/\1 \2 \3/p' "$log" | tail -1)"
		read -r t v <<<"$(sed -n 's/.*Timed out: \([0-9]*\), Not viable: \([0-9]*\).*/\1 \2/p' "$log" | tail -1)"
	fi
	if ((rc != 0)) || [[ -z ${k:-} || -z ${t:-} ]]; then
		printf '%-20s gremlins failed (exit %d), see %s\n' "$p" "$rc" "$log"
		status=1
		continue
	fi
	eff=- cov=-
	((k + l > 0)) && eff=$(awk -v k="$k" -v l="$l" 'BEGIN { printf "%.1f%%", 100 * k / (k + l) }')
	((k + l + n > 0)) && cov=$(awk -v k="$k" -v l="$l" -v n="$n" 'BEGIN { printf "%.1f%%", 100 * (k + l) / (k + l + n) }')
	printf "$fmt" "$p" "$k" "$l" "$n" "$t" "$v" "$eff" "$cov" "$secs"
	if ((gate)) && [[ ${#dry[@]} -eq 0 ]] &&
		! awk -v k="$k" -v l="$l" -v n="$n" 'BEGIN { exit !((k + l == 0 || 100 * k / (k + l) >= 90) && (k + l + n == 0 || 100 * (k + l) / (k + l + n) >= 85)) }'; then
		echo "mutation: $p misses the goal (efficacy >= 90 %, mutant coverage >= 85 %)" >&2
		status=1
	fi
	while read -r line; do
		[[ -n $line ]] && lived+=("$p/${line##* at }  ${line%% at *}")
	done <<<"$(sed -n 's/^ *LIVED \(.*\)/\1/p' "$log")"
done
if ((${#lived[@]} > 0)); then
	echo
	echo "lived mutants:"
	printf '  %s\n' "${lived[@]}"
fi
exit $status
