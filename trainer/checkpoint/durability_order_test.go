package checkpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shardsmith/shardsmith/internal/durable"
)

// durableStep is one step of a durable write as the test hook saw it.
type durableStep struct {
	op   durable.Op
	name string // base name of the file, or of the directory for fsync-dir
}

// A save writes every data file completely — create, write, fsync, rename,
// directory fsync — before it writes the sidecar that names them, and the
// sidecar itself the same way. At the moment the sidecar is renamed into
// place, every file it names is on disk with the size and SHA-256 it
// records: a crash at any step leaves the old sidecar, naming old files
// that are still there, or the new one, naming new files that are whole.
func TestSaveStepOrder(t *testing.T) {
	m, o, _, _ := trainedModel(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "ck")
	first, _ := Capture(m, o, Meta{Epoch: 1})
	if err := Save(base, first); err != nil {
		t.Fatal(err)
	}
	second, _ := Capture(m, o, Meta{Epoch: 2})
	var steps []durableStep
	var atSidecarRename []string // problems seen when the sidecar is renamed
	restore := durable.SetTestHook(func(op durable.Op, path string) error {
		steps = append(steps, durableStep{op, filepath.Base(path)})
		if op == durable.OpRename && filepath.Base(path) == "ck.json" {
			atSidecarRename = checkNamedFiles(dir, base+".json", true)
			atSidecarRename = append(atSidecarRename, checkNamedFiles(dir, base+".json", false)...)
		}
		return nil
	})
	err := Save(base, second)
	restore()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string) []durableStep {
		return []durableStep{{durable.OpCreate, name}, {durable.OpWrite, name}, {durable.OpSync, name},
			{durable.OpRename, name}, {durable.OpSyncDir, filepath.Base(dir)}}
	}
	var want []durableStep
	want = append(want, write("ck.g2.safetensors")...)
	want = append(want, write("ck.g2.optim.safetensors")...)
	want = append(want, write("ck.json")...)
	if !slices.Equal(steps, want) {
		t.Fatalf("steps\n%v\nwant\n%v", steps, want)
	}
	if len(atSidecarRename) > 0 {
		t.Fatalf("when the new sidecar was renamed into place: %v", atSidecarRename)
	}
}

// checkNamedFiles checks the files the sidecar at jPath names (the new one,
// still under its temporary name, when pending; else the one in place)
// against their recorded sizes and digests.
func checkNamedFiles(dir, jPath string, pending bool) []string {
	path := jPath
	if pending {
		m, _ := filepath.Glob(filepath.Join(dir, ".ck.json.tmp-*"))
		if len(m) != 1 {
			return []string{"no single temporary sidecar"}
		}
		path = m[0]
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var meta struct {
		Weights       FileInfo  `json:"weights"`
		OptimizerFile *FileInfo `json:"optimizer_file"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return []string{path + ": " + err.Error()}
	}
	files := []FileInfo{meta.Weights}
	if meta.OptimizerFile != nil {
		files = append(files, *meta.OptimizerFile)
	}
	var bad []string
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f.Name))
		sum := sha256.Sum256(data)
		if err != nil || int64(len(data)) != f.Bytes || hex.EncodeToString(sum[:]) != f.SHA256 {
			bad = append(bad, f.Name+" is not whole")
		}
	}
	if len(files) < 2 {
		bad = append(bad, path+" names no optimizer file")
	}
	return bad
}
