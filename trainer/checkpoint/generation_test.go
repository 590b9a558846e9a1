package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/durable"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestSaveWritesGenerations: each save is a new generation; after the
// switch only its files remain, and a checkpoint from before generations is
// replaced cleanly.
func TestSaveWritesGenerations(t *testing.T) {
	m, o, _, _ := trainedModel(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "ck")
	for epoch := 1; epoch <= 3; epoch++ {
		c, _ := Capture(m, o, Meta{Epoch: epoch})
		if err := Save(base, c); err != nil {
			t.Fatal(err)
		}
		g := fmt.Sprintf("g%d", epoch)
		want := []string{"ck." + g + ".optim.safetensors", "ck." + g + ".safetensors", "ck.json"}
		if got := dirNames(t, dir); !slices.Equal(got, want) {
			t.Fatalf("after save %d: %v, want %v", epoch, got, want)
		}
		l, err := Load(base)
		if err != nil {
			t.Fatal(err)
		}
		if l.Meta.Epoch != epoch || l.Meta.Generation != int64(epoch) {
			t.Fatalf("loaded epoch %d generation %d, want %d", l.Meta.Epoch, l.Meta.Generation, epoch)
		}
	}
}

// TestFailedSaveKeepsPreviousCheckpoint injects a failure at every step of a
// save — before each file, at each fsync and rename (a full disk, a kill
// between two renames) — and checks that the previous checkpoint still
// loads, whole and unchanged, and that the next save succeeds and removes
// what the failed one left.
func TestFailedSaveKeepsPreviousCheckpoint(t *testing.T) {
	m, o, x, labels := trainedModel(t)
	for _, at := range []durable.Op{durable.OpCreate, durable.OpWrite, durable.OpSync, durable.OpRename} {
		// A CNN with an optimizer: weights, optimizer state, sidecar.
		for file := 1; file <= 3; file++ {
			t.Run(fmt.Sprintf("%s-file%d", at, file), func(t *testing.T) {
				dir := t.TempDir()
				base := filepath.Join(dir, "ck")
				first, _ := Capture(m, o, Meta{Epoch: 1})
				if err := Save(base, first); err != nil {
					t.Fatal(err)
				}
				before, _ := os.ReadFile(base + ".json")
				want, err := Load(base)
				if err != nil {
					t.Fatal(err)
				}
				m2, o2 := m, o
				step(t, m2, o2, x, labels)
				second, _ := Capture(m2, o2, Meta{Epoch: 2})
				errDisk := errors.New("no space left on device (injected)")
				n := 0
				restore := durable.SetTestHook(func(op durable.Op, _ string) error {
					if op == at {
						if n++; n == file {
							return errDisk
						}
					}
					return nil
				})
				err = Save(base, second)
				restore()
				if !errors.Is(err, errDisk) {
					t.Fatalf("err = %v, want the injected failure", err)
				}
				after, _ := os.ReadFile(base + ".json")
				if string(after) != string(before) {
					t.Fatal("the sidecar changed although the save failed")
				}
				l, err := Load(base)
				if err != nil {
					t.Fatalf("the previous checkpoint does not load: %v", err)
				}
				if l.Meta.Epoch != 1 {
					t.Fatalf("loaded epoch %d, want 1", l.Meta.Epoch)
				}
				for i, w := range want.Weights {
					if l.Weights[i].Name != w.Name || !slices.Equal(l.Weights[i].Data, w.Data) {
						t.Fatalf("weight %s differs from the previous checkpoint's", w.Name)
					}
				}
				if l.Optimizer == nil || l.Optimizer.Step != want.Optimizer.Step {
					t.Fatal("optimizer state differs from the previous checkpoint's")
				}
				third, _ := Capture(m2, o2, Meta{Epoch: 2})
				if err := Save(base, third); err != nil {
					t.Fatal(err)
				}
				meta, err := ReadMeta(base)
				if err != nil || meta.Generation < 2 {
					t.Fatalf("after the next save: generation %v, %v", meta, err)
				}
				names := dirNames(t, dir)
				for _, n := range names {
					if n != "ck.json" && !strings.HasPrefix(n, fmt.Sprintf("ck.g%d.", meta.Generation)) {
						t.Errorf("left after the next save: %s (all: %v)", n, names)
					}
				}
			})
		}
	}
}

// TestLoadLegacyLayoutAndReplaceIt: a checkpoint written before generations
// (ck.safetensors, ck.optim.safetensors) loads, and the next save replaces
// its files.
func TestLoadLegacyLayoutAndReplaceIt(t *testing.T) {
	dir, base, c := savedCheckpoint(t)
	// Rewrite it into the old layout: generation 0, fixed names.
	meta, err := ReadMeta(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*FileInfo{&meta.Weights, meta.OptimizerFile} {
		old := strings.Replace(f.Name, ".g1.", ".", 1)
		if err := os.Rename(filepath.Join(dir, f.Name), filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
		f.Name = old
	}
	meta.Generation = 0
	js := mustJSON(t, meta)
	if err := os.WriteFile(base+".json", js, 0o644); err != nil {
		t.Fatal(err)
	}
	if w, _, _ := Paths(base); filepath.Base(w) != "ck.safetensors" {
		t.Fatalf("Paths of the old layout: %s", w)
	}
	if _, err := Load(base); err != nil {
		t.Fatalf("old layout: %v", err)
	}
	if err := Save(base, c); err != nil {
		t.Fatal(err)
	}
	want := []string{"ck.g1.optim.safetensors", "ck.g1.safetensors", "ck.json"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after saving over the old layout: %v, want %v", got, want)
	}
}

func TestLoadMissingCheckpoint(t *testing.T) {
	base := filepath.Join(t.TempDir(), "ck")
	_, err := Load(base)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "no checkpoint at "+base) {
		t.Fatalf("err = %v", err)
	}
	if Exists(base) {
		t.Fatal("Exists on an empty directory")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}
