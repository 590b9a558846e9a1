package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/store/storetest"
)

// Every command taking a path or URL refuses a scheme it does not support,
// naming the supported ones, and creates nothing.
func TestUnsupportedSchemesRefused(t *testing.T) {
	cfg, _ := writeDataset(t, 100, 20, 4, "")
	gsCfg, _ := writeDataset(t, 100, 20, 4, "gs://bucket/mnist/")
	wd := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", cfg, "--out", "gs://bucket/x"}, `unsupported location scheme "gs"`},
		{[]string{"run", cfg, "--out", "s3:bucket/x"}, `looks like a URL without "//"`},
		{[]string{"run", cfg, "--cache", "s3://bucket/cache"}, "--cache s3://bucket/cache: only a local path"},
		{[]string{"run", gsCfg, "--out", filepath.Join(wd, "out")}, `unsupported URL scheme "gs"`},
		{[]string{"verify", "gs://bucket/x"}, `unsupported location scheme "gs"`},
		{[]string{"show", "azblob://c/x"}, `unsupported location scheme "azblob"`},
		{[]string{"ls", "https://example.com/out"}, `unsupported location scheme "https"`},
		{[]string{"reproduce", "gs://bucket/x"}, `unsupported location scheme "gs"`},
		{[]string{"preview", "gs://bucket/x"}, `unsupported location scheme "gs"`},
		{[]string{"gc", "gs://bucket/x"}, `unsupported location scheme "gs"`},
	} {
		cmd := runPrepIn(t, wd, c.args...)
		if cmd.code != 1 || !strings.Contains(cmd.stderr, c.want) {
			t.Errorf("prep %s: exit %d, %q; want exit 1 and %q", strings.Join(c.args, " "), cmd.code, cmd.stderr, c.want)
		}
	}
	if e, _ := os.ReadDir(wd); len(e) != 0 {
		var names []string
		for _, x := range e {
			names = append(names, x.Name())
		}
		t.Errorf("refused commands created %v", names)
	}
}

func runPrepIn(t *testing.T, dir string, args ...string) result {
	t.Helper()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	return runPrep(t, args...)
}

func TestRunShowVerifyLsOnStore(t *testing.T) {
	srv := storetest.Start(t)
	cfg, _ := writeDataset(t, 1200, 300, 6, "")
	cache := t.TempDir()
	out := srv.URL("datasets")
	r := runPrep(t, "run", cfg, "--out", out, "--cache", cache, "--quiet")
	if r.code != 0 {
		t.Fatalf("run: %+v", r)
	}
	short := strings.TrimSpace(r.stdout)
	if r = runPrep(t, "run", cfg, "--out", out, "--cache", cache); r.code != 0 || !strings.Contains(r.stdout, "up to date: "+out+"/tiny/"+short) {
		t.Fatalf("second run: %+v", r)
	}
	latest := out + "/tiny/latest"
	if r = runPrep(t, "verify", latest); r.code != 0 || !strings.Contains(r.stdout, "all 5 shards verified") {
		t.Fatalf("verify: %+v", r)
	}
	if r = runPrep(t, "show", out+"/tiny/"+short); r.code != 0 || !strings.Contains(r.stdout, "6x6x1 float32") {
		t.Fatalf("show: %+v", r)
	}
	if r = runPrep(t, "ls", out); r.code != 0 || !strings.Contains(r.stdout, short) || !strings.Contains(r.stdout, "*") {
		t.Fatalf("ls: %+v", r)
	}
	if r = runPrep(t, "reproduce", latest, "--cache", cache); r.code != 0 || !strings.Contains(r.stdout, "5 identical") {
		t.Fatalf("reproduce: %+v", r)
	}
	if r = runPrep(t, "preview", latest, "-n", "4", "-o", filepath.Join(t.TempDir(), "g.png")); r.code != 0 {
		t.Fatalf("preview: %+v", r)
	}
	if r = runPrep(t, "gc", out); r.code != 0 || !strings.Contains(r.stdout, "nothing to remove") {
		t.Fatalf("gc: %+v", r)
	}
	// An object that does not belong to the version is reported.
	stray := srv.ObjectPath("datasets/tiny/" + short + "/stray.txt")
	if err := os.WriteFile(stray, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r = runPrep(t, "verify", latest); r.code != 1 || !strings.Contains(r.stderr, "stray.txt: not listed in the manifest") {
		t.Fatalf("verify with a stray object: %+v", r)
	}
}
