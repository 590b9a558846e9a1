package prep

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

// debianFashion is where Debian's dataset-fashion-mnist package installs
// the four files (.ci/run installs it).
const debianFashion = "/usr/share/datasets/fashion-mnist/"

// configs/fashion-mnist.yaml builds offline from the Debian package, whose
// recompressed files verify by content_sha256, into the version its pins
// name.
func TestFashionMNISTFromDebianPackage(t *testing.T) {
	if _, err := os.Stat(filepath.Join(debianFashion, "train-images-idx3-ubyte.gz")); err != nil {
		t.Skipf("Fashion-MNIST is not installed at %s (apt-get install dataset-fashion-mnist): %v", debianFashion, err)
	}
	if testing.Short() || raceDetector {
		t.Skip("builds 70,000 images (too slow under -race; the small builds run there)")
	}
	cfg, err := config.Load("../configs/fashion-mnist.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := NewHashInput(cfg).Version() // from the pins alone
	cfg.KeepMirrors(debianFashion)      // offline: the package's copy only
	if len(cfg.Mirrors) != 1 {
		t.Fatalf("the config does not list %s as a mirror: %v", debianFashion, cfg.Mirrors)
	}
	res := build(t, cfg, testOptions(t, t.TempDir()))
	m := res.Manifest
	if m.Version != want {
		t.Errorf("version %s, want %s (the pinned content's)", m.Version, want)
	}
	rows := map[string]int{}
	for _, s := range m.Splits {
		rows[string(s.Name)] = s.Rows
	}
	if rows["train"] != 54000 || rows["val"] != 6000 || rows["test"] != 10000 {
		t.Errorf("split rows %v, want train 54000, val 6000, test 10000", rows)
	}
	if m.Classes[0] != "T-shirt/top" || m.Classes[9] != "Ankle boot" || m.Image.Height != 28 || m.Image.Channels != 1 {
		t.Errorf("classes %q, image %+v", m.Classes, m.Image)
	}
	for _, s := range m.Sources {
		if s.ContentSHA256 == "" || s.SHA256 == s.ContentSHA256 {
			t.Errorf("source %+v: want the package file's sha256 and the pinned content", s)
		}
	}
	if _, err := Verify(res.Dir); err != nil {
		t.Fatal(err)
	}
	// The few-shot sets of the transfer experiment fix the statistics this
	// build computes, and keep its sources and classes.
	for _, name := range []string{"fashion-mnist-fewshot", "fashion-mnist-fewshot-k100"} {
		fc, err := config.Load("../configs/" + name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		n := fc.Normalize
		if n.Mode != vocab.NormalizeFixed || !n.Mean.Equal(m.Normalize.Mean) || !n.Std.Equal(m.Normalize.Std) {
			t.Errorf("%s: normalize %s mean %v std %v, want fixed at this build's mean %v std %v", name, n.Mode, n.Mean, n.Std, m.Normalize.Mean, m.Normalize.Std)
		}
		if !reflect.DeepEqual(fc.Sources, cfg.Sources) || !slices.Equal(fc.Classes, cfg.Classes) {
			t.Errorf("%s: sources or classes differ from configs/fashion-mnist.yaml's", name)
		}
	}
}
