//go:build unix

package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A save that runs while Load reads may replace the sidecar and remove the
// generation it named between Load's read of the sidecar and its read of
// the weights. Load then reads the sidecar again and follows the new one.
// The interleaving is made exact with a FIFO as the sidecar: once Load has
// opened it, the second save's sidecar is renamed over it, and only then is
// the first save's sidecar (whose files the second save removed) written
// into the pipe for Load to read.
func TestLoadFollowsASidecarReplacedMeanwhile(t *testing.T) {
	m, o, _, _ := trainedModel(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "ck")
	var sidecars [2][]byte
	for g := range sidecars {
		c, _ := Capture(m, o, Meta{Epoch: g + 1})
		if err := Save(base, c); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(base + ".json")
		if err != nil {
			t.Fatal(err)
		}
		sidecars[g] = b
	}
	if _, err := os.Stat(base + ".g1.safetensors"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the first generation's weights are still there: %v", err)
	}
	if err := os.Rename(base+".json", base+".new"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(base+".json", 0o644); err != nil {
		t.Skip("cannot make a FIFO:", err)
	}
	served := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(base+".json", os.O_WRONLY, 0) // returns once Load has opened it
		if err != nil {
			served <- err
			return
		}
		err = os.Rename(base+".new", base+".json")
		if _, werr := f.Write(sidecars[0]); err == nil {
			err = werr
		}
		f.Close()
		served <- err
	}()
	c, err := Load(base)
	if serr := <-served; serr != nil {
		t.Fatal(serr)
	}
	if err != nil {
		t.Fatalf("Load with the sidecar replaced meanwhile: %v", err)
	}
	if c.Meta.Generation != 2 || c.Meta.Epoch != 2 {
		t.Fatalf("loaded generation %d epoch %d, want the second save's", c.Meta.Generation, c.Meta.Epoch)
	}
}
