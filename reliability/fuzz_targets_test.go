//go:build unix

package reliability

import (
	"os"
	"strings"
	"testing"
)

// TestFuzzTargetsListed checks that the report's fuzz targets are those of
// .ci/fuzz-targets, in its order, and that the recorded long run (if any)
// covers each of them.
func TestFuzzTargetsListed(t *testing.T) {
	data, err := os.ReadFile("../.ci/fuzz-targets")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) != 3 || (f[2] != "instrumented" && f[2] != "both") {
			t.Fatalf(".ci/fuzz-targets: %q: want package, target and instrumented|both", line)
		}
		listed = append(listed, strings.TrimPrefix(f[0], "./")+" "+f[1])
	}
	var report []string
	for _, f := range fuzzTargets {
		report = append(report, f.pkg+" "+f.name)
	}
	if strings.Join(listed, ", ") != strings.Join(report, ", ") {
		t.Fatalf(".ci/fuzz-targets lists\n  %s\nthe report\n  %s", strings.Join(listed, ", "), strings.Join(report, ", "))
	}
	runs, err := readFuzzRun()
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]bool{}
	for _, r := range runs {
		ran[r[1]+" "+r[0]] = true
	}
	for _, l := range listed {
		if !ran[l] {
			t.Errorf("%s has no figures in %s (rerun bench/fuzz.sh -o reliability/%s)", l, fuzzRunFile, fuzzRunFile)
		}
	}
}
