// Command sgemm measures the SGEMM of trainer/kernels next to gonum's
// (gonum.org/v1/gonum/blas/blas32) in one run, on square products and on
// the shapes of a training step.
//
// It lives in its own module so that gonum does not enter the main module.
// Every configuration is timed in several samples of at least -sample
// each; the table gives the median and the best sample in GFLOP/s, which on
// a shared machine bracket what the code can do.
//
// Output is tab-separated: library, kernel set, threads, shape, median,
// best; with -raw, one line per sample with its GFLOP/s in place of the last
// two. run.sh merges it with torch_sgemm.py's output.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shardsmith/shardsmith/trainer/kernels"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

type shape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// trainerShapes mirror the products of one step of the reference models:
// a 784-512-256-10 MLP at batch 128 and a CNN with a 3×3 convolution done as
// im2col + GEMM (per 24×24 image, and for a batch of 128 in one product)
// and a 9216→128 dense layer. The same list is in trainer/kernels'
// benchmarks and in torch_sgemm.py.
var trainerShapes = []shape{
	{"mlp-fc1-fwd-NT", false, true, 128, 512, 784},
	{"mlp-fc1-dW-TN", true, false, 512, 784, 128},
	{"mlp-fc1-dX-NN", false, false, 128, 784, 512},
	{"mlp-fc2-fwd-NT", false, true, 128, 256, 512},
	{"mlp-fc3-fwd-NT", false, true, 128, 10, 256},
	{"cnn-conv-fwd-NN", false, false, 576, 64, 288},
	{"cnn-conv-dW-TN", true, false, 288, 64, 576},
	{"cnn-conv-dX-NT", false, true, 576, 288, 64},
	{"cnn-conv-batch-NN", false, false, 128 * 576, 64, 288},
	{"cnn-fc-fwd-NT", false, true, 128, 128, 9216},
	{"cnn-fc-dW-TN", true, false, 128, 9216, 128},
}

func main() {
	sizes := flag.String("sizes", "256,512,1024", "comma-separated square sizes n (n×n times n×n)")
	trainer := flag.Bool("trainer", false, "also measure the training-step shapes")
	defImpls := kernels.Impls()
	if kernels.SetImpl("avx512") == nil && kernels.HasBF16() {
		defImpls = append([]string{"avx512-bf16"}, defImpls...)
	}
	impls := flag.String("impls", strings.Join(defImpls, ","), "kernel sets of trainer/kernels to measure; avx512-bf16 is SgemmBF16 (bf16 operands, float32 accumulation) with the avx512 set: on AMX tiles where the CPU has them (SHARDSMITH_KERNELS=avx512 keeps it on VDPBF16PS)")
	threads := flag.String("threads", "1,"+strconv.Itoa(runtime.NumCPU()), "comma-separated thread counts")
	gonum := flag.Bool("gonum", true, "also measure gonum")
	samples := flag.Int("samples", 5, "timed samples per configuration")
	sample := flag.Duration("sample", 200*time.Millisecond, "minimum duration of one sample")
	raw := flag.Bool("raw", false, "print every sample instead of median and best")
	flag.Parse()

	var shapes []shape
	for _, f := range strings.Split(*sizes, ",") {
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "sgemm: -sizes: %q is not a positive integer\n", f)
			os.Exit(2)
		}
		shapes = append(shapes, shape{fmt.Sprintf("square-%d", n), false, false, n, n, n})
	}
	if *trainer {
		shapes = append(shapes, trainerShapes...)
	}
	var threadCounts []int
	for _, f := range strings.Split(*threads, ",") {
		t, err := strconv.Atoi(f)
		if err != nil || t <= 0 {
			fmt.Fprintf(os.Stderr, "sgemm: -threads: %q is not a positive integer\n", f)
			os.Exit(2)
		}
		threadCounts = append(threadCounts, t)
	}

	kernels.SetImpl("avx512")
	fmt.Printf("# %s/%s, %d CPUs, %s, bf16 GEMM %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), kernels.BF16Impl())
	for _, s := range shapes {
		in := newOperands(s)
		for _, t := range threadCounts {
			runtime.GOMAXPROCS(t)
			for _, name := range strings.Split(*impls, ",") {
				set, par, serial := name, kernels.Sgemm, kernels.SgemmSerial
				if name == "avx512-bf16" {
					set, par, serial = "avx512", kernels.SgemmBF16, kernels.SgemmBF16Serial
				}
				if err := kernels.SetImpl(set); err != nil {
					fmt.Fprintln(os.Stderr, "sgemm:", err)
					os.Exit(2)
				}
				f := func() {
					par(s.transA, s.transB, s.m, s.n, s.k, 1, in.a, in.lda, in.b, in.ldb, 0, in.c, s.n)
				}
				if t == 1 {
					f = func() {
						serial(s.transA, s.transB, s.m, s.n, s.k, 1, in.a, in.lda, in.b, in.ldb, 0, in.c, s.n)
					}
				}
				report(*raw, "shardsmith", name, t, s, measure(f, *samples, *sample))
			}
			if *gonum {
				ta, tb := blas.NoTrans, blas.NoTrans
				if s.transA {
					ta = blas.Trans
				}
				if s.transB {
					tb = blas.Trans
				}
				ga := blas32.General{Rows: s.m, Cols: s.k, Stride: in.lda, Data: in.a}
				if s.transA {
					ga.Rows, ga.Cols = s.k, s.m
				}
				gb := blas32.General{Rows: s.k, Cols: s.n, Stride: in.ldb, Data: in.b}
				if s.transB {
					gb.Rows, gb.Cols = s.n, s.k
				}
				gc := blas32.General{Rows: s.m, Cols: s.n, Stride: s.n, Data: in.c}
				report(*raw, "gonum", "native", t, s, measure(func() { blas32.Gemm(ta, tb, 1, ga, gb, 0, gc) }, *samples, *sample))
			}
		}
	}
}

type operands struct {
	a, b, c  []float32
	lda, ldb int
}

func newOperands(s shape) operands {
	r := rand.New(rand.NewPCG(1, 2))
	randn := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		return x
	}
	o := operands{a: randn(s.m * s.k), b: randn(s.k * s.n), c: make([]float32, s.m*s.n), lda: s.k, ldb: s.n}
	if s.transA {
		o.lda = s.m
	}
	if s.transB {
		o.ldb = s.k
	}
	return o
}

// measure returns the duration of one call in each of samples samples.
func measure(f func(), samples int, minDur time.Duration) []time.Duration {
	f() // warm up caches, buffers and the goroutine pool
	out := make([]time.Duration, samples)
	for i := range out {
		n := 0
		start := time.Now()
		for time.Since(start) < minDur {
			f()
			n++
		}
		out[i] = time.Since(start) / time.Duration(n)
	}
	return out
}

func report(raw bool, lib, impl string, threads int, s shape, per []time.Duration) {
	gflops := func(d time.Duration) float64 {
		return 2 * float64(s.m) * float64(s.n) * float64(s.k) / d.Seconds() / 1e9
	}
	if raw {
		for _, d := range per {
			fmt.Printf("%s\t%s\t%d\t%s\t%.2f\n", lib, impl, threads, s.name, gflops(d))
		}
		return
	}
	slices.Sort(per)
	fmt.Printf("%s\t%s\t%d\t%s\t%.1f\t%.1f\n", lib, impl, threads, s.name, gflops(per[len(per)/2]), gflops(per[0]))
}
