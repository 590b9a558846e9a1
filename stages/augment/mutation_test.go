package augment

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/formats/shard"
)

// The image shape New accepts, at the edges of each bound: every side from 1
// to maxSide and 1 to maxChannels channels; one past each edge is refused
// with a message naming the bound and the value.
func TestNewShapeBounds(t *testing.T) {
	for _, c := range []struct{ w, h, ch int }{{1, 1, 1}, {maxSide, 1, 1}, {1, maxSide, 1}, {2, 2, maxChannels}} {
		a, err := New(1, c.w, c.h, []Spec{{Op: "noise", Params: p("stddev", 0.1)}}, WithChannels(c.ch))
		if err != nil {
			t.Fatalf("%d×%d×%d: %v", c.w, c.h, c.ch, err)
		}
		if a.Width() != c.w || a.Height() != c.h || a.Channels() != c.ch || a.Elems() != c.w*c.h*c.ch {
			t.Fatalf("%d×%d×%d: shape %d×%d×%d, %d elems", c.w, c.h, c.ch, a.Width(), a.Height(), a.Channels(), a.Elems())
		}
		src := make([]uint8, a.Elems())
		a.Apply(src, src, 0, 1) // a buffer of that shape is accepted
	}
	for _, c := range []struct {
		w, h, ch int
		want     string
	}{
		{0, 5, 1, "augment: image size must be positive, got 0×5"},
		{5, 0, 1, "augment: image size must be positive, got 5×0"},
		{-1, 5, 1, "augment: image size must be positive, got -1×5"},
		{maxSide + 1, 1, 1, "augment: image side must be at most 65536, got 65537×1"},
		{1, maxSide + 1, 1, "augment: image side must be at most 65536, got 1×65537"},
		{2, 2, 0, "augment: channels must be in [1, 64], got 0"},
		{2, 2, maxChannels + 1, "augment: channels must be in [1, 64], got 65"},
	} {
		_, err := New(1, c.w, c.h, nil, WithChannels(c.ch))
		if err == nil || err.Error() != c.want {
			t.Errorf("%d×%d×%d: error %v, want %q", c.w, c.h, c.ch, err, c.want)
		}
	}
}

// Apply refuses a destination of the wrong length as it refuses a source.
func TestApplyPanicsOnWrongDestination(t *testing.T) {
	a := mustNew(t, 1, 4, 4, nil)
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, "want 16-byte buffers for 4×4, got src 16, dst 15") {
			t.Fatalf("panic message %q", msg)
		}
	}()
	a.Apply(make([]uint8, 15), make([]uint8, 16), 0, 0)
}

// Each parameter at the edge of its documented range is accepted (on a
// 20×28 image, whose larger side bounds elastic's sigma); just past it, it is
// refused with the message naming the parameter.
func TestSpecEdges(t *testing.T) {
	const w, h = 20, 28
	for _, s := range []Spec{
		{Op: "rotate", Params: p("degrees", 0, "p", 0)},
		{Op: "rotate", Params: p("degrees", 10, "p", 1)},
		{Op: "scale", Params: p("min", 0.5, "max", 0.5)},
		{Op: "shear", Params: p("degrees", 89.9)},
		{Op: "elastic", Params: p("alpha", 0, "sigma", 28)}, // sigma = the larger side
		{Op: "elastic", Params: p("alpha", 3, "sigma", 21)}, // above the smaller side
		{Op: "erase", Params: p("max_fraction", 1)},
		{Op: "erase", Params: p("max_fraction", 0.5, "min_fraction", 0)},
		{Op: "erase", Params: p("max_fraction", 0.5, "min_fraction", 0.5)},
		{Op: "erase", Params: p("max_fraction", 0.5, "value", 0)},
		{Op: "erase", Params: p("max_fraction", 0.5, "value", 255)},
		{Op: "erase", Params: p("max_fraction", 0.5, "random", 0)},
		{Op: "erase", Params: p("max_fraction", 0.5, "random", 1)},
	} {
		if _, err := New(1, w, h, []Spec{s}); err != nil {
			t.Errorf("%s %v: %v", s.Op, s.Params, err)
		}
	}
	for _, c := range []struct {
		spec Spec
		want string
	}{
		{Spec{Op: "elastic", Params: p("alpha", 1, "sigma", 28.5)}, "augment op #1: elastic: sigma must be at most the image side (28), got 28.5"},
		{Spec{Op: "erase", Params: p("max_fraction", 0)}, "augment op #1: erase: max_fraction must be in (0, 1], got 0"},
		{Spec{Op: "erase", Params: p("max_fraction", 0.5, "min_fraction", -0.01)}, "augment op #1: erase: min_fraction must be ≥ 0, got -0.01"},
		{Spec{Op: "erase", Params: p("max_fraction", 0.5, "value", -1)}, "augment op #1: erase: value must be an integer in [0, 255], got -1"},
		{Spec{Op: "erase", Params: p("max_fraction", 0.5, "value", 2.5)}, "augment op #1: erase: value must be an integer in [0, 255], got 2.5"},
		{Spec{Op: "erase", Params: p("max_fraction", 0.5, "random", -1)}, "augment op #1: erase: random must be 0 or 1, got -1"},
		{Spec{Op: "erase", Params: p("max_fraction", 0.5, "random", 0.5)}, "augment op #1: erase: random must be 0 or 1, got 0.5"},
		{Spec{Op: "shear", Params: p("degrees", 90.5)}, "augment op #1: shear: degrees must be < 90, got 90.5"},
		{Spec{Op: "scale", Params: p("min", -1, "max", 1)}, "augment op #1: scale: min must be > 0, got -1"},
		{Spec{Op: "rotate", Params: p("degrees", 1, "p", 1.0000001)}, "augment op #1: rotate: p must be in [0, 1], got 1.0000001"},
		{Spec{Op: "elastic", Params: p("alpha", 1, "sigma", -2)}, "augment op #1: elastic: sigma must be > 0, got -2"},
	} {
		_, err := New(1, w, h, []Spec{c.spec})
		if err == nil || err.Error() != c.want {
			t.Errorf("%s %v: error %v, want %q", c.spec.Op, c.spec.Params, err, c.want)
		}
	}
}

// Describe says which ops share a resampling pass: one affine op with an
// elastic, an elastic alone, affine ops alone, and the fill of a plain erase.
func TestDescribeFusion(t *testing.T) {
	const blur = "uniform [-1,1] fields smoothed by a separable float32 Gaussian (radius 6, reflected borders), " +
		"scaled by alpha; own kernel, not imaging.Blur, which would quantise the field to 8 bits"
	const fixed = "one bilinear warp of the uint8 image with 32.32 fixed-point coordinates and 8-bit weights"
	for _, c := range []struct {
		specs []Spec
		want  []string
	}{
		{[]Spec{{Op: "rotate", Params: p("degrees", 10)}, {Op: "elastic", Params: p("alpha", 8, "sigma", 2)}}, []string{
			"rotate degrees=10 p=1: affine (composed with elastic into one resampling pass); bilinear warp through the elastic field (float64 coordinates per pixel)",
			"elastic alpha=8 sigma=2 p=1: " + blur + "; fused with the preceding affine ops into one bilinear pass",
		}},
		{[]Spec{{Op: "elastic", Params: p("alpha", 8, "sigma", 2)}}, []string{
			"elastic alpha=8 sigma=2 p=1: " + blur + "; one bilinear pass on the uint8 image",
		}},
		{[]Spec{{Op: "translate", Params: p("pixels", 2)}, {Op: "scale", Params: p("min", 0.9, "max", 1.1)}, {Op: "rotate", Params: p("degrees", 5)}}, []string{
			"translate pixels=2 p=1: affine (composed with scale, rotate into one resampling pass); " + fixed,
			"scale min=0.9 max=1.1 p=1: affine (composed with translate, rotate into one resampling pass); " + fixed,
			"rotate degrees=5 p=1: affine (composed with translate, scale into one resampling pass); " + fixed,
		}},
		{[]Spec{{Op: "erase", Params: p("max_fraction", 0.3, "value", 9)}}, []string{
			"erase min_fraction=0.02 max_fraction=0.3 p=1: in place on uint8; one rectangle, aspect ratio log-uniform in [0.3, 3.33], filled with value 9",
		}},
	} {
		got := mustNew(t, 1, 28, 28, c.specs).Describe()
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("Describe:\n got %q\nwant %q", got, c.want)
		}
	}
}

// A run with source paths gives every copy its source's path; a run without
// keeps SourcePath nil, which the shard writer requires of a shard without
// the source_path column. The pixels come from Alloc when it is set.
func TestExpandSourcePathsAndAlloc(t *testing.T) {
	const w, h = 6, 5
	a := mustNew(t, 2, w, h, []Spec{{Op: "noise", Params: p("stddev", 0.3)}})
	r := rand.New(rand.NewPCG(3, 4))
	img := append(randomImage(r, w, h), randomImage(r, w, h)...)
	splits := []uint8{1, 0}
	e := &Expander{Aug: a, Copies: 3}
	e.Splits[1] = true

	rows := shard.Rows{SourceIndex: []uint64{5, 6}, Label: []uint8{7, 8}, Copy: make([]uint16, 2), ImageU8: img}
	out, _, _ := e.Expand(rows, splits)
	if out.SourcePath != nil {
		t.Fatalf("rows without paths expanded to SourcePath %q, want nil", out.SourcePath)
	}

	rows.SourcePath = []string{"a/1.png", "b/2.png"}
	var asked []int
	var given []uint8
	e.Alloc = func(n int) []uint8 {
		asked = append(asked, n)
		given = make([]uint8, n)
		return given
	}
	out, outSplits, expanded := e.Expand(rows, splits)
	want := []string{"a/1.png", "a/1.png", "a/1.png", "a/1.png", "b/2.png"}
	if !expanded || strings.Join(out.SourcePath, " ") != strings.Join(want, " ") || !bytes.Equal(outSplits, []uint8{1, 1, 1, 1, 0}) {
		t.Fatalf("expanded=%v, paths %q, splits %v; want %q", expanded, out.SourcePath, outSplits, want)
	}
	if len(asked) != 1 || asked[0] != 5*w*h || &out.ImageU8[0] != &given[0] {
		t.Fatalf("Alloc asked for %v bytes, want one call for %d, and its buffer used", asked, 5*w*h)
	}
	if !bytes.Equal(out.ImageU8[4*w*h:], img[w*h:]) || !bytes.Equal(out.ImageU8[:w*h], img[:w*h]) {
		t.Fatal("the originals are not copied unchanged")
	}
	dst := make([]uint8, w*h)
	for c := 1; c <= 3; c++ {
		a.Apply(dst, img[:w*h], 5, c)
		if !bytes.Equal(out.ImageU8[c*w*h:(c+1)*w*h], dst) {
			t.Fatalf("copy %d differs from Apply(source 5, copy %d)", c, c)
		}
	}
}

// Composing geometric ops is composing maps: two rotations are one by the
// sum of their angles, two translations one by the sum of their shifts, and
// rotate a, translate u, rotate −a is the translation by u turned by −a.
func TestComposeIsMatrixProduct(t *testing.T) {
	near := func(what string, got, want lin) {
		t.Helper()
		for i, d := range [6]float64{got.m00 - want.m00, got.m01 - want.m01, got.m10 - want.m10,
			got.m11 - want.m11, got.t0 - want.t0, got.t1 - want.t1} {
			if math.Abs(d) > 1e-12 {
				t.Fatalf("%s: entry %d is off by %g:\n got %+v\nwant %+v", what, i, d, got, want)
			}
		}
	}
	r := rand.New(rand.NewPCG(21, 22))
	for range 50 {
		a, b := r.Float64()*340-170, r.Float64()*340-170
		u0, u1, v0, v1 := r.Float64()*8-4, r.Float64()*8-4, r.Float64()*8-4, r.Float64()*8-4

		g, want := identity(), identity()
		g.rotate(a)
		g.rotate(b)
		want.rotate(a + b)
		near("rotate a, rotate b", g, want)

		g, want = identity(), identity()
		g.translate(u0, u1)
		g.translate(v0, v1)
		want.translate(u0+v0, u1+v1)
		near("translate u, translate v", g, want)

		g, want = identity(), identity()
		g.rotate(a)
		g.translate(u0, u1)
		g.rotate(-a)
		s, c := math.Sincos(a * math.Pi / 180)
		want.translate(c*u0-s*u1, s*u0+c*u1)
		near("rotate a, translate u, rotate -a", g, want)
	}
}

// Multiples of 90° have exact sines and cosines (what keeps a quarter turn
// exact however many ops are composed with it), in either direction and
// past a full turn.
func TestSincosDegreesQuarterTurnsExact(t *testing.T) {
	want := [4][2]float64{{0, 1}, {1, 0}, {0, -1}, {-1, 0}}
	for k := -9; k <= 9; k++ {
		s, c := sincosDegrees(float64(90 * k))
		w := want[((k%4)+4)%4]
		if s != w[0] || c != w[1] {
			t.Errorf("sincosDegrees(%d) = %v, %v, want %v, %v exactly", 90*k, s, c, w[0], w[1])
		}
	}
	g := identity()
	g.rotate(90)
	g.rotate(-450)
	if !g.isIdentity() {
		t.Errorf("rotate 90 then -450: %+v, want the identity exactly", g)
	}
	if s, c := sincosDegrees(30); math.Abs(s-0.5) > 1e-15 || math.Abs(c-math.Sqrt(3)/2) > 1e-15 {
		t.Errorf("sincosDegrees(30) = %v, %v", s, c)
	}
}

// The elastic field's raw displacements are uniform in [-1, 1) at every
// position, the last one of an odd-sized field included.
func TestFillUniformRange(t *testing.T) {
	var pcg rand.PCG
	for _, n := range []int{1, 2, 3, 7, 221} {
		f := make([]float32, n)
		sum := make([]float64, n)
		const draws = 4000
		for d := range draws {
			pcg.Seed(uint64(n), uint64(d))
			fillUniform(&pcg, f)
			for i, v := range f {
				if v < -1 || v >= 1 {
					t.Fatalf("n=%d draw %d: f[%d] = %v, want in [-1, 1)", n, d, i, v)
				}
				sum[i] += float64(v)
			}
		}
		for _, i := range []int{0, n - 1} {
			// The mean of 4000 uniform [-1, 1) values has a standard deviation of 0.009.
			if m := sum[i] / draws; math.Abs(m) > 0.05 {
				t.Errorf("n=%d: mean of f[%d] over %d draws is %.3f, want about 0", n, i, draws, m)
			}
		}
	}
}
