package tinyset

import (
	"bytes"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/idx"
)

// Writing a set pulls in neither prep nor testing: the package's own files
// import neither (building a set is tinybuild's job).
func TestWritingImportsNoBuilderNorTesting(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p == "testing" || strings.HasSuffix(p, "/prep") {
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
}

// Write writes the four IDX files it reports, with the pixels and labels it
// returns and the SHA-256 it records.
func TestWriteRoundTrips(t *testing.T) {
	dir := t.TempDir()
	s, err := Write(dir, Spec{Train: 7, Test: 3, Side: 2, Classes: 4, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key  string
		want []uint8
	}{{"train_images", s.TrainImages}, {"train_labels", s.TrainLabels}, {"test_images", s.TestImages}, {"test_labels", s.TestLabels}} {
		r, err := idx.Open(filepath.Join(dir, s.Files[c.key]))
		if err != nil {
			t.Fatal(err)
		}
		got := make([]uint8, len(c.want)+1)
		n, _ := r.ReadU8(got)
		r.Close()
		if n*r.Header().ItemElems() != len(c.want) || !bytes.Equal(got[:len(c.want)], c.want) {
			t.Errorf("%s: read %d items that differ from what Write returned", c.key, n)
		}
	}
	for _, l := range s.TrainLabels {
		if l >= 4 {
			t.Fatalf("label %d ≥ 4 classes", l)
		}
	}
	if !strings.Contains(s.Config("d", "x: 1\n"), "sha256: "+s.SHA["train_images"]) {
		t.Fatal("config does not pin the SHA-256")
	}
	if _, err := os.Stat(filepath.Join(dir, s.Files["test_labels"])); err != nil {
		t.Fatal(err)
	}
}

// A C-channel set writes [n side side C] items; one channel keeps the
// MNIST-like [n side side] files, byte for byte what a set without Channels
// writes.
func TestWriteChannels(t *testing.T) {
	rgb, err := Write(t.TempDir(), Spec{Train: 5, Test: 2, Side: 3, Channels: 3, Seed: 2, Learnable: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := idx.Open(filepath.Join(rgb.Dir, rgb.Files["train_images"]))
	if err != nil {
		t.Fatal(err)
	}
	dims := r.Header().Dims
	r.Close()
	if len(dims) != 4 || dims[0] != 5 || dims[1] != 3 || dims[2] != 3 || dims[3] != 3 || len(rgb.TrainImages) != 5*27 {
		t.Fatalf("dims %v, %d train bytes", dims, len(rgb.TrainImages))
	}
	a, _ := Write(t.TempDir(), Spec{Train: 5, Test: 2, Side: 3, Seed: 2})
	b, _ := Write(t.TempDir(), Spec{Train: 5, Test: 2, Side: 3, Channels: 1, Seed: 2})
	for _, k := range Keys {
		if a.SHA[k] != b.SHA[k] {
			t.Fatalf("%s: Channels 1 writes other bytes than Channels 0", k)
		}
	}
}
