package manifest

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTableIsFloat64RoundedOnce(t *testing.T) {
	n := Normalize{Mode: "compute", Mean: Values{0.1307}, Std: Values{0.3081}}
	tab := n.Table()
	src := []uint8{0, 1, 127, 128, 254, 255}
	dst := make([]float32, len(src)+2)
	tab.Apply(dst, src)
	for i, v := range src {
		want := float32((float64(v)/255 - 0.1307) / 0.3081)
		if dst[i] != want || tab[0][v] != want {
			t.Fatalf("pixel %d -> %v (table %v), want %v", v, dst[i], tab[0][v], want)
		}
	}
	if dst[len(src)] != 0 {
		t.Fatal("Apply wrote past len(src)")
	}
}

func TestDenormalizeInvertsTable(t *testing.T) {
	for _, n := range []Normalize{{Mode: "compute", Mean: Values{0.1307}, Std: Values{0.3081}}, {Mode: "fixed", Mean: Values{0.5}, Std: Values{0.5}}, {Mode: "none", Mean: Values{0.9}, Std: Values{0.01}}} {
		tab := n.Table()
		for v := 0; v < 256; v++ {
			if got := n.Denormalize(0, tab[0][v]); got != uint8(v) {
				t.Fatalf("%+v: byte %d -> %v -> %d", n, v, tab[0][v], got)
			}
		}
		if n.Denormalize(0, float32(math.Inf(1))) != 255 || n.Denormalize(0, -1e9) != 0 {
			t.Fatalf("%+v: out-of-range values are not clamped", n)
		}
	}
}

func TestNormalizeValidate(t *testing.T) {
	for _, c := range []struct {
		n    Normalize
		want string
	}{
		{Normalize{Mode: "compute", Mean: Values{0.1}, Std: Values{0}}, "normalize.std 0"},
		{Normalize{Mode: "compute", Mean: Values{0.1}, Std: Values{-0.2}}, "normalize.std -0.2"},
		{Normalize{Mode: "fixed", Mean: Values{0.1}, Std: Values{math.Inf(1)}}, "normalize.std +Inf"},
		{Normalize{Mode: "fixed", Mean: Values{0.1}, Std: Values{math.NaN()}}, "normalize.std NaN"},
		{Normalize{Mode: "none", Mean: Values{math.Inf(-1)}, Std: Values{1}}, "normalize.mean -Inf"},
		{Normalize{Mode: "none", Mean: Values{math.NaN()}, Std: Values{1}}, "normalize.mean NaN"},
		{Normalize{Mode: "zscore", Mean: Values{0}, Std: Values{1}}, `normalize.mode "zscore"`},
	} {
		err := c.n.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.n, err, c.want)
		}
	}
	if err := (Normalize{Mode: "none", Mean: Values{0}, Std: Values{1}}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// A manifest whose std is 0 is refused on load, naming the file and field.
func TestLoadRejectsBadNormalization(t *testing.T) {
	m := valid()
	m.Normalize.Std = Values{0}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, FileName)
	os.WriteFile(p, b, 0o644)
	_, err = Load(dir)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "normalize.std 0, expected a finite number > 0") {
		t.Fatalf("error %v", err)
	}
}

func TestShardName(t *testing.T) {
	if got := ShardName("train", 2, 4, ".arrow"); got != "train-00002-of-00004.arrow" {
		t.Fatal(got)
	}
	if got := ShardName("val", 0, 123456, ".parquet"); got != "val-00000-of-123456.parquet" {
		t.Fatal(got)
	}
	if !shardPath.MatchString(ShardName("test", 0, 1, ".arrow")) {
		t.Fatal("a shard name the manifest would refuse")
	}
}

func BenchmarkApply(b *testing.B) {
	tab := Normalize{Mean: Values{0.13}, Std: Values{0.31}}.Table()
	src := make([]uint8, 784*1000)
	dst := make([]float32, len(src))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		tab.Apply(dst, src)
	}
}
