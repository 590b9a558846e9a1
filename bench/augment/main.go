// Command augment measures the augment stage's throughput on the workload of
// torchvision_affine.py: RandomAffine(degrees=10, translate=(0.1, 0.1),
// scale=(0.9, 1.1)) (-op affine) or an elastic distortion with alpha 34 and
// sigma 4 (-op elastic) over 60,000 28×28 images, spread over a fixed number of
// workers. It prints one line: images, workers, the median wall-clock rate,
// every run, and the rate per CPU-second (user+system time of the process),
// which a machine shared with other jobs disturbs much less than wall time.
//
//	go run ./bench/augment -workers 2 -runs 7 [-op affine|elastic]
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardsmith/shardsmith/stages/augment"
)

func main() {
	n := flag.Int("n", 60000, "images per run")
	workers := flag.Int("workers", 2, "goroutines (GOMAXPROCS is set to the same)")
	runs := flag.Int("runs", 7, "timed runs; the median is reported")
	op := flag.String("op", "affine", "workload: affine (rotate+translate+scale, composed) or elastic")
	flag.Parse()
	if *n <= 0 || *workers <= 0 || *runs <= 0 {
		fmt.Fprintln(os.Stderr, "augment bench: -n, -workers and -runs must be positive")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*workers)

	const w, h = 28, 28
	var specs []augment.Spec
	switch *op {
	case "affine":
		specs = []augment.Spec{
			{Op: "rotate", Params: map[string]float64{"degrees": 10}},
			{Op: "translate", Params: map[string]float64{"pixels": 0.1 * w}},
			{Op: "scale", Params: map[string]float64{"min": 0.9, "max": 1.1}},
		}
	case "elastic":
		specs = []augment.Spec{{Op: "elastic", Params: map[string]float64{"alpha": 34, "sigma": 4}}}
	default:
		fmt.Fprintf(os.Stderr, "augment bench: -op must be affine or elastic, got %q\n", *op)
		os.Exit(2)
	}
	a, err := augment.New(1, w, h, specs)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Same input as the torchvision script: uniform random bytes.
	r := rand.New(rand.NewPCG(0, 0))
	src := make([]uint8, *n*w*h)
	for i := range src {
		src[i] = uint8(r.Uint32())
	}
	dst := make([]uint8, len(src))

	run := func() float64 {
		const chunk = 256
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for g := 0; g < *workers; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					lo := int(next.Add(chunk)) - chunk
					if lo >= *n {
						return
					}
					for i := lo; i < min(lo+chunk, *n); i++ {
						a.Apply(dst[i*w*h:(i+1)*w*h], src[i*w*h:(i+1)*w*h], uint64(i), 0)
					}
				}
			}()
		}
		wg.Wait()
		return float64(*n) / time.Since(start).Seconds()
	}
	run() // warm-up: page in dst, fill the scratch pools
	rates := make([]float64, *runs)
	cpu0 := cpuSeconds()
	for i := range rates {
		rates[i] = run()
	}
	perCPU := float64(*n**runs) / (cpuSeconds() - cpu0)
	sorted := append([]float64(nil), rates...)
	sort.Float64s(sorted)
	fmt.Printf("shardsmith augment %s: %d images 28x28, %d workers, median %.0f images/s, runs %.0f, %.0f images/cpu-s\n",
		*op, *n, *workers, sorted[len(sorted)/2], rates, perCPU)
}
