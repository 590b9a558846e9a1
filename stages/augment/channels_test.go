package augment

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// planes splits an HWC image into its channel planes.
func planes(img []uint8, c int) [][]uint8 {
	out := make([][]uint8, c)
	for i, v := range img {
		out[i%c] = append(out[i%c], v)
	}
	return out
}

// Every channel of a C-channel image gets the draw a gray image gets: the
// same composed matrix, elastic field and erase rectangle, each channel
// resampled on its own. So channel k of the output is exactly the gray
// output for plane k, for every op except noise.
func TestChannelsShareTheGeometricDraw(t *testing.T) {
	const w, h, c = 17, 13, 3
	for _, specs := range [][]Spec{
		{{Op: "rotate", Params: p("degrees", 30)}, {Op: "translate", Params: p("pixels", 2.5)}, {Op: "scale", Params: p("min", 0.8, "max", 1.2)}, {Op: "shear", Params: p("degrees", 10)}},
		{{Op: "rotate", Params: p("degrees", 15)}, {Op: "elastic", Params: p("alpha", 8, "sigma", 2)}},
		{{Op: "elastic", Params: p("alpha", 6, "sigma", 3)}},
		{{Op: "erase", Params: p("max_fraction", 0.4, "value", 77)}},
		{{Op: "scale", Params: p("min", 1e9, "max", 1e9)}}, // the float path for huge maps
	} {
		gray := mustNew(t, 5, w, h, specs)
		rgb, err := New(5, w, h, specs, WithChannels(c))
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 1))
		for si := uint64(0); si < 20; si++ {
			src := randomImage(r, w*c, h) // any bytes: three unrelated planes
			dst := make([]uint8, len(src))
			rgb.Apply(dst, src, si, 1)
			inPlace := append([]uint8(nil), src...)
			rgb.Apply(inPlace, inPlace, si, 1)
			if !bytes.Equal(dst, inPlace) {
				t.Fatalf("%v: in-place Apply differs from Apply into another buffer", specs)
			}
			for k, plane := range planes(src, c) {
				want := make([]uint8, w*h)
				gray.Apply(want, plane, si, 1)
				if got := planes(dst, c)[k]; !bytes.Equal(got, want) {
					t.Fatalf("%v, source %d: channel %d differs from the gray result at %d", specs, si, k, firstDiff(got, want))
				}
			}
		}
	}
}

// Noise draws per value, so equal channels become different ones; a random
// erase fills every channel of the same rectangle with its own bytes.
func TestChannelsNoisePerValue(t *testing.T) {
	const w, h, c = 8, 8, 3
	for _, spec := range []Spec{{Op: "noise", Params: p("stddev", 0.2)}, {Op: "erase", Params: p("max_fraction", 1, "min_fraction", 1, "random", 1)}} {
		a, err := New(9, w, h, []Spec{spec}, WithChannels(c))
		if err != nil {
			t.Fatal(err)
		}
		src := make([]uint8, w*h*c)
		for i := range src {
			src[i] = uint8(100 + i/c) // the three channels of a pixel are equal
		}
		dst := make([]uint8, len(src))
		a.Apply(dst, src, 3, 1)
		pl := planes(dst, c)
		if bytes.Equal(pl[0], pl[1]) || bytes.Equal(pl[1], pl[2]) {
			t.Fatalf("%s: channels got the same values", spec.Op)
		}
		again := make([]uint8, len(src))
		a.Apply(again, src, 3, 1)
		if !bytes.Equal(dst, again) {
			t.Fatalf("%s: not deterministic", spec.Op)
		}
	}
}

func TestWithChannelsRejects(t *testing.T) {
	for _, c := range []int{0, -1, 65} {
		if _, err := New(1, 4, 4, nil, WithChannels(c)); err == nil || !strings.Contains(err.Error(), "channels must be in [1, 64]") {
			t.Errorf("WithChannels(%d): %v", c, err)
		}
	}
	a, err := New(1, 4, 3, nil, WithChannels(3))
	if err != nil || a.Channels() != 3 || a.Elems() != 36 {
		t.Fatalf("%v %v", a, err)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "want 36-byte buffers for 4×3×3") {
			t.Fatalf("panic %v", r)
		}
	}()
	a.Apply(make([]uint8, 12), make([]uint8, 12), 0, 1)
}
