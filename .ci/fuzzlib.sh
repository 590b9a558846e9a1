# Shared by .ci/fuzz and bench/fuzz.sh (source it from the repository root):
# the target list, one way to run a target in either mode, and the reading
# of its log.

# MINIMIZE bounds the minimization of each new interesting input (Go's
# default, 60s, would use up a short run).
MINIMIZE="${FUZZMINIMIZETIME:-1s}"

# fuzz_targets prints the "package target mode" lines of .ci/fuzz-targets.
fuzz_targets() {
	grep -Ev '^[[:space:]]*(#|$)' .ci/fuzz-targets
}

# fuzz_check_targets fails, naming them, if a Fuzz function in a _test.go
# file of the module is missing from .ci/fuzz-targets or a listed target no
# longer exists.
fuzz_check_targets() {
	local found listed bad=0
	found="$(grep -rHo --include='*_test.go' --exclude-dir=bench '^func Fuzz[A-Za-z0-9_]*(' . |
		sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' | sort -u)"
	listed="$(fuzz_targets | awk '{print $1, $2}' | sort -u)"
	while read -r t; do
		[[ -n $t ]] && { echo "fuzz: $t is not in .ci/fuzz-targets" >&2; bad=1; }
	done < <(comm -23 <(echo "$found") <(echo "$listed"))
	while read -r t; do
		[[ -n $t ]] && { echo "fuzz: .ci/fuzz-targets lists $t, which does not exist" >&2; bad=1; }
	done < <(comm -13 <(echo "$found") <(echo "$listed"))
	return $bad
}

# fuzz_run MODE PKG NAME TIME LOG fuzzes one target for TIME (a Go
# duration) on top of its committed corpus, copying the output to LOG, and
# returns the test's exit status. MODE "instrumented" is go test -fuzz;
# "uninstrumented" runs a test binary built without coverage instrumentation
# (from FUZZ_BIN_DIR, built there on first use) with the same corpus cache as
# go test, which is much faster where instrumentation dominates the cost of
# an input. A failing input is written to PKG/testdata/fuzz/NAME/ either way.
fuzz_run() {
	local mode=$1 pkg=$2 name=$3 time=$4 log=$5
	if [[ $mode == instrumented ]]; then
		go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" -fuzzminimizetime "$MINIMIZE" "$pkg" 2>&1 | tee "$log"
		return "${PIPESTATUS[0]}"
	fi
	local bin cache
	bin="${FUZZ_BIN_DIR:?}/$(tr / _ <<<"${pkg#./}").test"
	if [[ ! -x $bin ]]; then
		go test -c -o "$bin" "$pkg" 2>&1 | tee "$log"
		[[ ${PIPESTATUS[0]} == 0 ]] || return 1
	fi
	cache="$(go env GOCACHE)/fuzz/$(go list "$pkg")"
	(cd "$pkg" && "$bin" -test.run '^$' -test.fuzz "^${name}\$" -test.fuzztime "$time" \
		-test.fuzzminimizetime "$MINIMIZE" -test.fuzzcachedir "$cache") 2>&1 | tee "$log"
	return "${PIPESTATUS[0]}"
}

# fuzz_execs LOG prints the last execution count a fuzzing log reports.
fuzz_execs() {
	grep -oE 'execs: [0-9]+' "$1" | tail -n 1 | awk '{print $2}'
}

# fuzz_deadline_race LOG reports whether a failed fuzzing log shows nothing
# but Go 1.26's race at the end of a -fuzztime window: the target fails with
# a bare "context deadline exceeded" after the time is up, with no failing
# input, no panic and no test error (go.dev/issue/75804, fixed in Go 1.27).
# Any other failure counts.
fuzz_deadline_race() {
	local log=$1
	grep -q '^    context deadline exceeded$' "$log" || return 1
	! grep -qE 'Failing input written|^panic:|_test\.go:[0-9]+:|fuzz: minimizing|timed out|hung or terminated' "$log"
}
