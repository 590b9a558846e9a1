package data

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/order.json")

// The loader yields rows exactly in the order Order computes, for a window
// that spans record batches and shards and for the default full window.
func TestLoaderFollowsOrder(t *testing.T) {
	d, err := Open(makeDataset(t, t.TempDir(), "a", "normalize: {mode: none}\n"))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := d.Loader("train", Options{BatchSize: 32})
	base := collect(t, plain, 0)
	if o, err := plain.Order(0); err != nil || !slices.Equal(o, seq(len(base))) {
		t.Fatalf("unshuffled order %v, %v", o, err)
	}
	if len(slices.Compact(sortedCopy(base))) != len(base) {
		t.Fatal("test rows are not distinct")
	}
	br, err := d.BatchRows("train")
	if err != nil || len(br) < 3 {
		t.Fatalf("batch rows %v, %v: want several shards", br, err)
	}
	for _, window := range []int{0, 1, 77, 100, 128} {
		for epoch := range 3 {
			l, _ := d.Loader("train", Options{BatchSize: 32, Shuffle: true, Seed: 9, Window: window})
			got := collect(t, l, epoch)
			order, err := l.Order(epoch)
			if err != nil {
				t.Fatal(err)
			}
			if len(order) != len(got) {
				t.Fatalf("order has %d rows, epoch %d", len(order), len(got))
			}
			for k, i := range order {
				if got[k] != base[i] {
					t.Fatalf("window %d epoch %d: row %d of the epoch is not row %d of the split", window, epoch, k, i)
				}
			}
		}
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// orderVectors are the shared test vectors of the row order, checked by the
// Python package's tests: raw PCG outputs, bounded integers (including n
// that make the rejection loop run), and whole epoch orders.
type orderVectors struct {
	PCG    []pcgVector   `json:"pcg"`
	Orders []orderVector `json:"orders"`
}

type pcgVector struct {
	Seed1   uint64   `json:"seed1"`
	Seed2   uint64   `json:"seed2"`
	Uint64  []uint64 `json:"uint64"` // the first outputs of the generator
	N       []uint64 `json:"n"`      // then, from a fresh generator, Uint64N(N[i]) in turn
	Uint64N []uint64 `json:"uint64n"`
	Perm    []int    `json:"perm"` // then, from a fresh generator, Perm(len(Perm))
}

type orderVector struct {
	BatchRows [][]int `json:"batch_rows"`
	Shuffle   bool    `json:"shuffle"`
	Seed      uint64  `json:"seed"`
	Epoch     int     `json:"epoch"`
	Window    int     `json:"window"`
	Order     []int   `json:"order"`
}

func makeVectors() orderVectors {
	var v orderVectors
	ns := []uint64{1, 2, 3, 10, 1 << 32, 1<<32 + 1, 1 << 63, 1<<63 + 1, 1<<64 - 1, 1<<64 - 2, 0xd0000000_00000000, 12345678901234567}
	for _, s := range [][2]uint64{{0, 0}, {1, 2}, {9, 0x9e3779b97f4a7c15}, {1<<64 - 1, 1<<64 - 1}} {
		pv := pcgVector{Seed1: s[0], Seed2: s[1]}
		r := rand.New(rand.NewPCG(s[0], s[1]))
		for range 6 {
			pv.Uint64 = append(pv.Uint64, r.Uint64())
		}
		r = rand.New(rand.NewPCG(s[0], s[1]))
		for _, n := range ns {
			for range 3 {
				pv.N = append(pv.N, n)
				pv.Uint64N = append(pv.Uint64N, r.Uint64N(n))
			}
		}
		pv.Perm = rand.New(rand.NewPCG(s[0], s[1])).Perm(50)
		v.PCG = append(v.PCG, pv)
	}
	layouts := [][][]int{
		{{50, 50, 28}, {50, 50, 28}, {50, 50, 28}, {16}},
		{{7}},
		{{3, 3}, {}, {5}, {1, 1, 1}, {2}},
	}
	for li, br := range layouts {
		for _, window := range []int{0, 1, 60, 100} {
			for _, seed := range []uint64{1, 42, 1<<64 - 1} {
				for _, epoch := range []int{0, 1, 5} {
					if li > 0 && (seed != 42 || epoch == 5) {
						continue
					}
					v.Orders = append(v.Orders, orderVector{br, true, seed, epoch, window, Order(br, true, seed, epoch, window)})
				}
			}
		}
		v.Orders = append(v.Orders, orderVector{br, false, 1, 0, 60, Order(br, false, 1, 0, 60)})
	}
	return v
}

// TestOrderVectors keeps testdata/order.json in step with the
// implementation (go test ./trainer/data -run OrderVectors -update
// rewrites it after a deliberate change of the order).
func TestOrderVectors(t *testing.T) {
	b, err := json.Marshal(makeVectors())
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.NewBuffer(append(b, '\n'))
	p := filepath.Join("testdata", "order.json")
	if *update {
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(old, buf.Bytes()) {
		t.Fatalf("%s is out of date: the row order changed (run with -update if that was meant; it changes training runs)", p)
	}
}
