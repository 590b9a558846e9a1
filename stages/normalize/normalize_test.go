package normalize

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestMeanStdMatchesDirectComputation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	px := make([]uint8, 10000)
	for i := range px {
		px[i] = uint8(r.IntN(256))
	}
	var h Histogram
	h.Add(px[:3000])
	var h2 Histogram
	h2.Add(px[3000:])
	h.Merge(&h2)
	mean, std, err := h.MeanStd()
	if err != nil {
		t.Fatal(err)
	}
	var s, ss float64
	for _, v := range px {
		s += float64(v) / 255
	}
	m := s / float64(len(px))
	for _, v := range px {
		d := float64(v)/255 - m
		ss += d * d
	}
	sd := math.Sqrt(ss / float64(len(px)))
	if math.Abs(mean-m) > 1e-12 || math.Abs(std-sd) > 1e-9 {
		t.Fatalf("mean/std %v/%v, want %v/%v", mean, std, m, sd)
	}
}

func TestConstantPixelsAreAnError(t *testing.T) {
	var h Histogram
	h.Add([]uint8{7, 7, 7})
	if _, _, err := h.MeanStd(); err == nil {
		t.Fatal("std 0 accepted")
	}
	var empty Histogram
	if _, _, err := empty.MeanStd(); err == nil {
		t.Fatal("empty histogram accepted")
	}
}
