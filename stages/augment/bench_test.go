package augment

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/disintegration/imaging"
)

// randomAffine is torchvision's RandomAffine(degrees=10, translate=(0.1, 0.1),
// scale=(0.9, 1.1)) for 28×28 images: 0.1·28 = 2.8 pixels.
var randomAffine = []Spec{
	{Op: "rotate", Params: p("degrees", 10)},
	{Op: "translate", Params: p("pixels", 2.8)},
	{Op: "scale", Params: p("min", 0.9, "max", 1.1)},
}

// benchImages returns 256 digit-like 28×28 sources to cycle through.
func benchImages() [][]uint8 {
	r := rand.New(rand.NewPCG(1, 2))
	imgs := make([][]uint8, 256)
	for i := range imgs {
		imgs[i] = synthDigit(r, 28, 28)
	}
	return imgs
}

func reportRate(b *testing.B, images int) {
	b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "images/s")
}

func benchSpecs(b *testing.B, specs []Spec) {
	a := mustNew(b, 1, 28, 28, specs)
	imgs := benchImages()
	dst := make([]uint8, 28*28)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.Apply(dst, imgs[i&255], uint64(i), 0)
	}
	reportRate(b, b.N)
}

// BenchmarkRandomAffine is the single-core RandomAffine equivalent.
func BenchmarkRandomAffine(b *testing.B) { benchSpecs(b, randomAffine) }

func BenchmarkOp(b *testing.B) {
	for _, s := range []Spec{
		{Op: "rotate", Params: p("degrees", 10)},
		{Op: "translate", Params: p("pixels", 2.8)},
		{Op: "scale", Params: p("min", 0.9, "max", 1.1)},
		{Op: "shear", Params: p("degrees", 10)},
		{Op: "elastic", Params: p("alpha", 34, "sigma", 4)},
		{Op: "noise", Params: p("stddev", 0.1)},
		{Op: "erase", Params: p("max_fraction", 0.33)},
	} {
		b.Run(s.Op, func(b *testing.B) { benchSpecs(b, []Spec{s}) })
	}
}

// BenchmarkRandomAffine60k augments 60,000 images (one MNIST training split)
// per iteration over GOMAXPROCS goroutines.
func BenchmarkRandomAffine60k(b *testing.B) {
	const n, chunk = 60000, 256
	a := mustNew(b, 1, 28, 28, randomAffine)
	imgs := benchImages()
	out := make([]uint8, n*28*28)
	workers := runtime.GOMAXPROCS(0)
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					lo := int(next.Add(chunk)) - chunk
					if lo >= n {
						return
					}
					for i := lo; i < min(lo+chunk, n); i++ {
						a.Apply(out[i*784:(i+1)*784], imgs[i&255], uint64(i), 0)
					}
				}
			}()
		}
		wg.Wait()
	}
	reportRate(b, b.N*n)
}

// BenchmarkImagingAffine is the same three transforms through imaging's
// general path (rotate, resize, paste on NRGBA), for comparison with the
// fused warp.
func BenchmarkImagingAffine(b *testing.B) {
	imgs := benchImages()
	r := rand.New(rand.NewPCG(3, 4))
	bg := image.NewNRGBA(image.Rect(0, 0, 28, 28))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g := grayImage(imgs[i&255], 28, 28)
		rot := imaging.Rotate(g, r.Float64()*20-10, color.Black)
		s := 0.9 + r.Float64()*0.2
		sz := int(math.Round(float64(rot.Bounds().Dx()) * s))
		scaled := imaging.Resize(rot, sz, sz, imaging.Linear)
		tx, ty := int(math.Round(r.Float64()*5.6-2.8)), int(math.Round(r.Float64()*5.6-2.8))
		imaging.Paste(bg, scaled, image.Pt((28-sz)/2+tx, (28-sz)/2+ty))
	}
	reportRate(b, b.N)
}

// BenchmarkBlur compares the elastic field smoothing (two fields) with
// imaging.Blur of one 8-bit image of the same size.
func BenchmarkBlur(b *testing.B) {
	const w, h, sigma = 28, 28, 4
	b.Run("own-float32-2fields", func(b *testing.B) {
		o := newElasticOp(0, 1, 34, sigma)
		a := &Augmenter{width: w, height: h, stages: []stage{&warpStage{elastic: o}}}
		s := a.newScratch()
		for i := 0; i < b.N; i++ {
			o.draw(s, uint64(i), w, h)
		}
		reportRate(b, b.N)
	})
	b.Run("imaging.Blur-1image", func(b *testing.B) {
		img := grayImage(benchImages()[0], w, h)
		for i := 0; i < b.N; i++ {
			imaging.Blur(img, sigma)
		}
		reportRate(b, b.N)
	})
}
