package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// job is the part of a Kubernetes Job the deploy manifests are checked on.
type job struct {
	Kind string `yaml:"kind"`
	Spec struct {
		CompletionMode       string `yaml:"completionMode"`
		Completions          int    `yaml:"completions"`
		BackoffLimitPerIndex *int   `yaml:"backoffLimitPerIndex"`
		Template             struct {
			Spec struct {
				RestartPolicy string `yaml:"restartPolicy"`
				Containers    []struct {
					Args []string `yaml:"args"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func loadJob(t *testing.T, name string) (*job, []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", name))
	if err != nil {
		t.Fatal(err)
	}
	var j job
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&j); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if j.Kind != "Job" || len(j.Spec.Template.Spec.Containers) != 1 || j.Spec.Template.Spec.RestartPolicy != "Never" {
		t.Fatalf("%s: want one Job of one container with restartPolicy Never, got %+v", name, j)
	}
	return &j, j.Spec.Template.Spec.Containers[0].Args
}

// flagValue returns the value after --name in args.
func flagValue(t *testing.T, args []string, name string) string {
	t.Helper()
	i := slices.Index(args, "--"+name)
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("args %q have no --%s", args, name)
	}
	return args[i+1]
}

// The Indexed Job and the commit Job agree with each other and with prep's
// command line: every index's arguments parse, N is the Job's completions.
func TestKubernetesJobsMatchTheCommandLine(t *testing.T) {
	parts, pargs := loadJob(t, "prep-partitions.yaml")
	commit, cargs := loadJob(t, "prep-commit.yaml")
	if parts.Spec.CompletionMode != "Indexed" || parts.Spec.BackoffLimitPerIndex == nil || parts.Spec.Completions < 1 {
		t.Fatalf("prep-partitions.yaml: want an Indexed Job with completions and backoffLimitPerIndex, got %+v", parts.Spec)
	}
	n := parts.Spec.Completions
	if got, want := flagValue(t, pargs, "partition"), "$(JOB_COMPLETION_INDEX)/"+strconv.Itoa(n); got != want {
		t.Errorf("--partition %q, want %q (N must equal completions)", got, want)
	}
	if pargs[0] != "run" || cargs[0] != "commit" || commit.Spec.Completions != 1 {
		t.Errorf("want `run` in the Indexed Job and one `commit`, got %q and %q", pargs[0], cargs[0])
	}
	if got := flagValue(t, cargs, "partitions"); got != strconv.Itoa(n) {
		t.Errorf("commit --partitions %s, want %d", got, n)
	}
	for _, f := range []string{"out", "cache"} {
		if flagValue(t, pargs, f) != flagValue(t, cargs, f) {
			t.Errorf("--%s differs between the two Jobs", f)
		}
	}
	if pargs[1] != cargs[1] {
		t.Errorf("the Jobs name two configs, %s and %s", pargs[1], cargs[1])
	}
	// Each pod's arguments, the index expanded, are accepted by prep: with
	// a config that does not exist it fails on the config (1), not on the
	// command line (2).
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	for i := 0; i < n; i++ {
		args := slices.Clone(pargs)
		for k := range args {
			args[k] = strings.ReplaceAll(args[k], "$(JOB_COMPLETION_INDEX)", strconv.Itoa(i))
		}
		args[1] = missing
		var so, se bytes.Buffer
		if code := run(args, &so, &se); code != 1 || !strings.Contains(se.String(), "missing.yaml") {
			t.Errorf("index %d: %q: exit %d, want 1 for the missing config\n%s", i, args, code, se.String())
		}
	}
	args := slices.Clone(cargs)
	args[1] = missing
	var so, se bytes.Buffer
	if code := run(args, &so, &se); code != 1 || !strings.Contains(se.String(), "missing.yaml") {
		t.Errorf("commit: %q: exit %d, want 1 for the missing config\n%s", args, code, se.String())
	}
}
