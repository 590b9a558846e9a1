package durable

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestExchangeSwapsDirectories(t *testing.T) {
	d := t.TempDir()
	a, b := filepath.Join(d, "a"), filepath.Join(d, "b")
	for _, p := range []string{a, b} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "name"), []byte(filepath.Base(p)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := Exchange(a, b)
	if runtime.GOOS != "linux" {
		if !errors.Is(err, ErrNoExchange) {
			t.Fatalf("Exchange on %s = %v, want ErrNoExchange", runtime.GOOS, err)
		}
		return
	}
	if errors.Is(err, ErrNoExchange) {
		t.Skip("this file system has no RENAME_EXCHANGE")
	}
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{a: "b", b: "a"} {
		got, err := os.ReadFile(filepath.Join(p, "name"))
		if err != nil || string(got) != want {
			t.Fatalf("%s holds %q (%v), want %q", p, got, err, want)
		}
	}
}

func TestExchangeMissingPathFails(t *testing.T) {
	d := t.TempDir()
	a := filepath.Join(d, "a")
	if err := os.Mkdir(a, 0o755); err != nil {
		t.Fatal(err)
	}
	err := Exchange(a, filepath.Join(d, "missing"))
	if err == nil {
		t.Fatal("exchange with a missing path succeeded")
	}
	if _, serr := os.Stat(a); serr != nil {
		t.Fatalf("a failed exchange moved %s: %v", a, serr)
	}
}

func TestExchangeFailureFromHook(t *testing.T) {
	d := t.TempDir()
	a, b := filepath.Join(d, "a"), filepath.Join(d, "b")
	for _, p := range []string{a, b} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	injected := errors.New("injected")
	restore := SetTestHook(func(op Op, path string) error {
		if op == OpRename && path == b {
			return injected
		}
		return nil
	})
	defer restore()
	if err := Exchange(a, b); !errors.Is(err, injected) {
		t.Fatalf("Exchange = %v, want the injected failure", err)
	}
}
