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

// Per-channel histograms of HWC pixels give each channel the statistics of
// its own values, and one channel is the plain histogram.
func TestHistogramsPerChannel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const c = 3
	px := make([]uint8, 3000*c)
	planes := make([][]uint8, c)
	for i := range px {
		// Different ranges per channel, so a mixed-up channel shows.
		px[i] = uint8(r.IntN(64 * (i%c + 1)))
		planes[i%c] = append(planes[i%c], px[i])
	}
	h := NewHistograms(c)
	h.Add(px[:1500*c])
	h2 := NewHistograms(c)
	h2.Add(px[1500*c:])
	h.Merge(h2)
	mean, std, err := h.MeanStd()
	if err != nil {
		t.Fatal(err)
	}
	for k := range c {
		var one Histogram
		one.Add(planes[k])
		m, s, _ := one.MeanStd()
		if mean[k] != m || std[k] != s {
			t.Fatalf("channel %d: %v/%v, want %v/%v", k, mean[k], std[k], m, s)
		}
	}
	if mean[0] >= mean[1] || mean[1] >= mean[2] {
		t.Fatalf("channel means %v not in the order of their ranges", mean)
	}
	g := NewHistograms(1)
	g.Add(px)
	var plain Histogram
	plain.Add(px)
	if g[0] != plain {
		t.Fatal("one-channel Histograms differ from Histogram")
	}
	flat := NewHistograms(2)
	flat.Add([]uint8{1, 9, 2, 9, 3, 9})
	if _, _, err := flat.MeanStd(); err == nil || err.Error() != "channel 1: normalize: train pixels are constant (std 0); use mode: fixed or none" {
		t.Fatalf("constant channel: %v", err)
	}
}

// countNaive is the plain byte-by-byte count Histogram.Add must equal.
func countNaive(p []uint8) Histogram {
	var h Histogram
	for _, v := range p {
		h[v]++
	}
	return h
}

// Add counts runs of equal bytes at once; the counts must be those of a
// plain count for every length, alignment and mix of runs and changes —
// runs that start mid-word, end mid-word, cover a word but one byte, and
// tails shorter than a word.
func TestHistogramAddEqualsPlainCount(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 2000 {
		n := r.IntN(100)
		p := make([]uint8, n)
		for i := 0; i < n; {
			run := 1 + r.IntN(20)
			v := uint8(r.IntN(256))
			if trial%3 == 0 {
				v = uint8(r.IntN(3)) // few values: neighbouring runs often equal
			}
			for ; run > 0 && i < n; run-- {
				p[i] = v
				i++
			}
		}
		if r.IntN(4) == 0 && n > 0 {
			p[r.IntN(n)] ^= uint8(1 + r.IntN(255)) // one odd byte inside a run
		}
		off := r.IntN(8) // not only word-aligned starts
		if off > n {
			off = n
		}
		var h Histogram
		h.Add(p[off:])
		if want := countNaive(p[off:]); h != want {
			t.Fatalf("trial %d: Add(%v) differs from the plain count", trial, p[off:])
		}
	}
}

// BenchmarkHistogramAddDigit counts a 28×28 image shaped like an MNIST
// digit: a zero background around a stroke of varied values.
func BenchmarkHistogramAddDigit(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	img := make([]uint8, 28*28)
	for y := 5; y < 23; y++ {
		for x := 9 + y%4; x < 17+y%3; x++ {
			img[y*28+x] = uint8(r.IntN(256))
		}
	}
	var h Histogram
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		h.Add(img)
	}
}
