// Package kernels holds the numeric hot loops of the trainer: single-precision
// matrix multiplication (SGEMM) and the element-wise vector operations that
// sit next to it in a training step (Axpy, Dot, Sum, Scal, ReLU and its
// gradient, bias and bias+ReLU epilogues, bias-gradient row sums, the Adam
// update), plus the per-plane steps of a convolution layer: strided block
// copies and adds for im2col and col2im (CopyRows, AddRows) and 2×2 max
// pooling with its argmax (MaxPool2x2), the transformer's GELU,
// softmax and LayerNorm passes with their gradients (transformer.go), and
// fused attention heads on an unpacked small-matrix product (attention.go).
//
// # Why assembly
//
// Go's compiler does not vectorise loops, so a plain Go SGEMM runs at a few
// GFLOP/s where the hardware offers around a hundred. The kernels that bound
// training time are therefore written in amd64 assembly, for AVX2+FMA and for
// AVX-512F. The assembly is not written by hand: it is generated with avo
// (github.com/mmcloughlin/avo) by the program in _asm, which is its own Go
// module so that avo never enters this module's dependency graph; `go
// generate` rebuilds kernels_amd64.s and kernels_amd64_stub.go from it.
//
// Go 1.26 also ships simd/archsimd, but only behind GOEXPERIMENT=simd, with an
// API that may still change. Generated assembly builds on a stock toolchain,
// gives full control over register allocation (which is what an SGEMM
// micro-kernel is about) and follows the layout of gonum's internal/asm.
//
// Every assembly kernel has a pure-Go twin with the same contract. Which set
// runs is chosen once at start-up from the CPU features reported by
// golang.org/x/sys/cpu: "avx512" if the CPU and OS support AVX-512F, else
// "avx2" if they support AVX2 and FMA, else "go". The environment variable
// SHARDSMITH_KERNELS=go|avx2|avx512|amx caps the choice (a set the machine lacks
// falls back to the next one down), and building with -tags purego, or for a
// non-amd64 target, leaves only the Go set.
//
// # SGEMM layout
//
// Sgemm follows the Goto/BLIS scheme. k is cut into depth blocks of at most
// kc = 256 steps, op(A) into row blocks of at most mc rows and op(B) into
// column blocks of at most nc columns. Each (row block, depth block) of
// op(A) is packed into micro-panels of mr rows stored step by step (mr
// values per step of k), each (depth block, column block) of op(B) into
// micro-panels of nr columns (nr values per step). Transposition is absorbed
// by the packing, done by small assembly kernels (8×8 AVX transposes and
// short-row copies), so NN, NT, TN and TT all run the same micro-kernel.
//
// The micro-kernel keeps an mr×nr tile of C in registers (12×32 in 24 zmm
// registers for AVX-512, 6×16 in 12 ymm registers for AVX2, 2×4 for Go).
// For every step of k it loads nr values of B, broadcasts mr values of A and
// issues mr*nr/lanes FMAs; an A micro-panel (12 KiB) stays in L1 while the
// kernel walks the B block, which stays in L2. A full-width tile with fewer
// than mr rows at the bottom edge runs an edge micro-kernel that computes
// only those rows (a convolution's 64 output channels are five 12-row panels
// and one of 4, not six of 12) with the same FMA chain per element; other
// edge tiles are computed by the full micro-kernel into a padded scratch
// tile (after copying C in when beta != 0) and copied back.
//
// Products of more than about 15µs of work are split into GOMAXPROCS
// rectangles of C on tile boundaries, run by the caller and a pool of
// helper goroutines that spin briefly between jobs (see pool.go).
// SgemmSerial never leaves the calling goroutine, which is what "one core"
// benchmarks use.
//
// # Determinism
//
// C[i][j] is computed by exactly one goroutine, with the same instruction
// sequence whether its tile is interior or on an edge, summing over k in
// order within each depth block and applying depth blocks in order. The
// depth blocking depends on k alone, so for a given kernel set the result
// depends only on the operands: it is bitwise identical for any GOMAXPROCS,
// between Sgemm and SgemmSerial, and from run to run. Different kernel sets
// (go, avx2, avx512) round differently (FMA versus separate multiply and
// add, different reduction trees in Dot) and agree only to within rounding;
// AdamStep, Relu, ReluGrad, Scal, AddBias, BiasRelu, CopyRows, AddRows,
// MaxPool2x2, GELU, GELUGrad, ExpShift, SoftmaxRows, SoftmaxRowsGrad,
// LayerNorm, LayerNormGrad, SgemmSmall and the attention heads built on it
// (attention.go: one in-order FMA chain per element, which the Go twin
// rounds exactly) are bitwise identical across sets: the
// transformer kernels' erf and exp are float32 approximations (N. Juffa's
// erf minimax pair, Cephes' expf, each within 1 ulp) evaluated without FMA
// in the same order in every set, and their row reductions are float64
// scalar loops shared by all sets.
//
// "Bitwise" leaves NaN payloads aside: any NaN in gives a NaN out in every
// set, but which input's payload survives is not defined. An x86 add or
// multiply of two NaNs returns its first operand's, and the Go compiler
// treats these operations as commutative, free to swap operands, so even the
// Go twin does not fix the payload.
//
// The bf16 GEMM (SgemmBF16, bf16.go) is bitwise identical across kernel sets
// too, and for any GOMAXPROCS: its VDPBF16PS micro-kernel and the Go twin
// round the same way (each product exact, each of a pair's two sums
// rounded, subnormals flushed) over a depth blocking that depends on k
// alone, and its epilogue uses no FMA. The exception is the AMX set
// (bf16_amx.go), picked by default where the CPU has AMX-BF16: its tile
// instruction sums in an order Intel does not specify, so it has its own
// bits, within float32 summation error of the others and bitwise the same
// for any GOMAXPROCS on the same CPU; SHARDSMITH_KERNELS=avx512 leaves it
// out.
//
// The int8 GEMM (GemmU8S8, int8.go), uint8 pixels times weights quantized
// per output row, sums in int32, exactly, so its VPDPBUSD kernel and the Go
// twin give the same bits for any GOMAXPROCS; its epilogue, a multiply by
// the row's scale and an add of its bias, uses no FMA either.
package kernels

import (
	"fmt"
	"os"
	"sync/atomic"
)

//go:generate go run -C _asm . -out ../kernels_amd64.s -stubs ../kernels_amd64_stub.go -pkg kernels

// gemmKernel is an SGEMM micro-kernel (see kernelSet.gemm).
type gemmKernel = func(k int, a, b, c *float32, ldc int, alpha, beta float32, bias *float32)

// kernelSet is one implementation of every kernel. The slice arguments of
// the vector kernels are non-empty and already length-checked.
type kernelSet struct {
	name string

	// SGEMM micro-kernel: C[0:mr][0:nr] (row stride ldc) =
	// alpha * A*B + beta * C, where a is a packed mr×k panel (mr values per
	// step) and b a packed k×nr panel (nr values per step). beta == 0 must
	// not read C. A non-nil bias (nr values) is then added to every row.
	mr, nr int
	gemm   gemmKernel
	// gemmEdge[r], when set, is the micro-kernel for the first r < mr rows
	// of a panel: the last row panel of an A whose height is not a multiple
	// of mr (64 output channels in 12-row panels) then costs r rows of
	// arithmetic, not mr, and rounds exactly like the full kernel.
	gemmEdge []gemmKernel

	// Block sizes: kc is the depth of a packed block, mc the most rows of
	// op(A) packed at once, nc the most columns of op(B).
	kc, mc, nc int

	// Optional packing kernels (nil in the Go set): transposeN sets
	// dst[p*ldd+r] = src[r*lds+p] for r < N and p < 8*steps8.
	// copyRows sets dst[r*ldd+j] = src[r*lds+j] for r < rows, j < cols.
	transpose8, transpose4 func(dst *float32, ldd int, src *float32, lds int, steps8 int)
	copyRows               func(dst *float32, ldd int, src *float32, lds int, rows, cols int)
	// addRows sets dst[r*ldd+j] += src[r*lds+j] for r < rows, j < cols.
	addRows func(dst *float32, ldd int, src *float32, lds int, rows, cols int)

	axpy func(alpha float32, x, y []float32)
	dot  func(x, y []float32) float32
	scal func(alpha float32, x []float32)
	// addScaledSum sets y[i] += k*(a[i]+b[i]), each operation rounded.
	addScaledSum func(y, a, b []float32, k float32)
	relu         func(dst, x []float32)
	addBias      func(dst, x []float32, b float32)
	biasRelu     func(dst, x []float32, b float32)
	reluGrad     func(dst, dy, y []float32)
	adam         func(p, g, m, v []float32, lr, b1, c1, b2, c2, eps float32)

	// Transformer kernels (transformer.go): element-wise, slices already
	// length-checked and non-empty.
	gelu        func(dst, x []float32)
	geluGrad    func(dst, dy, x []float32)
	expShift    func(dst, x []float32, m float32)
	softmaxGrad func(dst, dp, p []float32, d float32)
	lnGrad      func(dx, dy, x, g []float32, m, s, mg, mgx float32)
	// layerNorm is LayerNorm's forward pass over len(mean) rows of d
	// features (layerNormGo), bitwise the same in every set.
	layerNorm func(y, mean, rstd, x, g, b []float32, d int, eps float64)

	// Attention heads' small products (attention.go): attnGemm[nv][mr],
	// when set, computes an mr-row tile of nv vectors of attnLanes
	// columns (nil: attnGemmGo).
	attnLanes int
	attnGemm  *[5][]attnKernel
	// rowMax, when set, is rowMax's kernel (same result, see there).
	rowMax func(x []float32) float32

	// maxPool2x2, when set, is MaxPool2x2's kernel (nil: the Go loop).
	maxPool2x2 func(y []float32, arg []int32, x []float32, oh, ow, w int)
	// lookupU8, when set, is LookupU8's kernel (nil: lookupU8Go).
	lookupU8 func(dst []float32, src []uint8, t *[256]float32)
}

// available lists the kernel sets this binary can run on this CPU, best
// first. The Go set is always last.
var available []*kernelSet

var current atomic.Pointer[kernelSet]

// EnvVar is the environment variable that caps the kernel set chosen at
// start-up: "go", "avx2", "avx512" or "amx" (avx512 with the bf16 GEMM on
// AMX tiles, the default where the CPU has them). Other values are ignored.
const EnvVar = "SHARDSMITH_KERNELS"

func init() {
	available = append(archKernelSets(), goKernels)
	current.Store(pick(os.Getenv(EnvVar)))
}

// rank orders the kernel set names from least to most capable.
// "amx" is above "avx512" and names no float32 set: it only lets the bf16
// GEMM use AMX tiles (bf16_amx.go).
var rank = map[string]int{"go": 0, "avx2": 1, "avx512": 2, "amx": 3}

// pick returns the best available set not above the requested one.
func pick(want string) *kernelSet {
	limit, ok := rank[want]
	if !ok {
		limit = len(rank)
	}
	for _, ks := range available {
		if rank[ks.name] <= limit {
			return ks
		}
	}
	return goKernels
}

func active() *kernelSet { return current.Load() }

// Impl names the kernel set in use: "avx512", "avx2" or "go".
func Impl() string { return active().name }

// Impls lists the kernel sets that can run on this machine, best first.
func Impls() []string {
	names := make([]string, len(available))
	for i, ks := range available {
		names[i] = ks.name
	}
	return names
}

// SetImpl switches to the named kernel set, for tests and benchmarks that
// compare implementations. Calls that are already running finish with the
// set they started with. It returns an error naming the available sets if
// this machine cannot run the requested one.
func SetImpl(name string) error {
	for _, ks := range available {
		if ks.name == name {
			current.Store(ks)
			return nil
		}
	}
	return fmt.Errorf("kernels: implementation %q not available on this machine (have %v)", name, Impls())
}

// Axpy computes y[i] += alpha*x[i] for i < len(x). y must be at least as
// long as x.
func Axpy(alpha float32, x, y []float32) {
	if len(y) < len(x) {
		panic(fmt.Sprintf("kernels: Axpy: len(y)=%d < len(x)=%d", len(y), len(x)))
	}
	if len(x) == 0 {
		return
	}
	active().axpy(alpha, x, y[:len(x)])
}

// Dot returns the sum of x[i]*y[i] for i < len(x). y must be at least as
// long as x. The summation order is fixed for a given kernel set and length.
func Dot(x, y []float32) float32 {
	if len(y) < len(x) {
		panic(fmt.Sprintf("kernels: Dot: len(y)=%d < len(x)=%d", len(y), len(x)))
	}
	if len(x) == 0 {
		return 0
	}
	return active().dot(x, y[:len(x)])
}

// Scal computes x[i] *= alpha.
func Scal(alpha float32, x []float32) {
	if len(x) == 0 {
		return
	}
	active().scal(alpha, x)
}

// AddScaledSum sets y[i] += k*(a[i]+b[i]) for i < len(y): one tap pair of
// a symmetric filter (a and b are the input shifted left and right). The
// sum, the product and the accumulation are each rounded to float32 — no
// fused multiply-add — so every kernel set gives the same bytes, which is
// what lets code whose output is pinned (the elastic augmentation) use it.
// a and b must be at least as long as y.
func AddScaledSum(y, a, b []float32, k float32) {
	if len(a) < len(y) || len(b) < len(y) {
		panic(fmt.Sprintf("kernels: AddScaledSum: len(a)=%d, len(b)=%d < len(y)=%d", len(a), len(b), len(y)))
	}
	if len(y) == 0 {
		return
	}
	active().addScaledSum(y, a[:len(y)], b[:len(y)], k)
}

// Relu sets dst[i] = max(x[i], 0) for i < len(x); NaN maps to 0. dst must
// be at least as long as x and may be x itself.
func Relu(dst, x []float32) {
	if len(dst) < len(x) {
		panic(fmt.Sprintf("kernels: Relu: len(dst)=%d < len(x)=%d", len(dst), len(x)))
	}
	if len(x) == 0 {
		return
	}
	active().relu(dst[:len(x)], x)
}

// LookupU8 sets dst[i] = t[src[i]] for i < len(src): the loader's
// normalization of uint8 pixels through the table of their 256 values
// (manifest.Table), so every kernel set gives exactly the table's floats.
// dst must be at least as long as src.
func LookupU8(dst []float32, src []uint8, t *[256]float32) {
	if len(dst) < len(src) {
		panic(fmt.Sprintf("kernels: LookupU8: len(dst)=%d < len(src)=%d", len(dst), len(src)))
	}
	if len(src) == 0 {
		return
	}
	if k := active().lookupU8; k != nil {
		k(dst[:len(src)], src, t)
		return
	}
	lookupU8Go(dst[:len(src)], src, t)
}

// AddBias sets dst[i] = x[i] + b for i < len(x). dst must be at least as
// long as x and may be x itself.
func AddBias(dst, x []float32, b float32) {
	if len(dst) < len(x) {
		panic(fmt.Sprintf("kernels: AddBias: len(dst)=%d < len(x)=%d", len(dst), len(x)))
	}
	if len(x) == 0 {
		return
	}
	active().addBias(dst[:len(x)], x, b)
}

// BiasRelu sets dst[i] = max(x[i]+b, 0) for i < len(x), NaN giving 0: a
// bias followed by a ReLU in one pass. dst must be at least as long as x and
// may be x itself.
func BiasRelu(dst, x []float32, b float32) {
	if len(dst) < len(x) {
		panic(fmt.Sprintf("kernels: BiasRelu: len(dst)=%d < len(x)=%d", len(dst), len(x)))
	}
	if len(x) == 0 {
		return
	}
	active().biasRelu(dst[:len(x)], x, b)
}

// MaxPool2x2 pools one plane with 2×2 windows and stride 2: for i < oh and
// j < ow, y[i*ow+j] is the largest of the window whose top-left corner is
// x[2i*w+2j] (row stride w), and arg[i*ow+j] its index in x. Ties go to the
// first position in row-major order, and y is always bitwise x[arg]: the
// choice is made by comparisons (greater-than, so a NaN never wins against
// an earlier value), not by a max that could return a value from neither.
func MaxPool2x2(y []float32, arg []int32, x []float32, oh, ow, w int) {
	if oh < 0 || ow < 0 || 2*ow > w {
		panic(fmt.Sprintf("kernels: MaxPool2x2: oh=%d ow=%d w=%d", oh, ow, w))
	}
	if oh == 0 || ow == 0 {
		return
	}
	if len(y) < oh*ow || len(arg) < oh*ow || len(x) < (2*oh-1)*w+2*ow {
		panic(fmt.Sprintf("kernels: MaxPool2x2: len(y)=%d len(arg)=%d len(x)=%d too short for oh=%d ow=%d w=%d",
			len(y), len(arg), len(x), oh, ow, w))
	}
	if ks := active(); ks.maxPool2x2 != nil {
		ks.maxPool2x2(y, arg, x, oh, ow, w)
		return
	}
	maxPool2x2Go(y, arg, x, oh, ow, w)
}

// ReluGrad back-propagates through a ReLU: dst[i] = dy[i] where y[i] > 0
// and 0 elsewhere, for i < len(dy). y is the ReLU's input or output (they
// are positive at the same places). dst may be dy itself.
func ReluGrad(dst, dy, y []float32) {
	n := len(dy)
	if len(dst) < n || len(y) < n {
		panic(fmt.Sprintf("kernels: ReluGrad: len(dst)=%d, len(y)=%d, want >= len(dy)=%d", len(dst), len(y), n))
	}
	if n == 0 {
		return
	}
	active().reluGrad(dst[:n], dy, y[:n])
}

// CopyRows copies a rows×cols block: dst[r*ldd+j] = src[r*lds+j] for
// r < rows and j < cols. It is the inner step of im2col, where the rows are
// a few dozen floats wide and a copy per row would spend its time on calls.
func CopyRows(dst []float32, ldd int, src []float32, lds int, rows, cols int) {
	if !checkRows("CopyRows", dst, ldd, src, lds, rows, cols) {
		return
	}
	copyRows(active(), dst, ldd, src, lds, rows, cols)
}

// copyRows is CopyRows on kernel set ks without the checks (GEMM packing
// calls it with its own): the assembly copy where the set has one, else a
// copy per row.
func copyRows(ks *kernelSet, dst []float32, ldd int, src []float32, lds int, rows, cols int) {
	if ks.copyRows != nil {
		ks.copyRows(&dst[0], ldd, &src[0], lds, rows, cols)
		return
	}
	for r := 0; r < rows; r++ {
		copy(dst[r*ldd:r*ldd+cols], src[r*lds:r*lds+cols])
	}
}

// AddRows adds a rows×cols block into another: dst[r*ldd+j] += src[r*lds+j]
// for r < rows and j < cols, each element once, so the result does not
// depend on the kernel set. It is the inner step of col2im.
func AddRows(dst []float32, ldd int, src []float32, lds int, rows, cols int) {
	if !checkRows("AddRows", dst, ldd, src, lds, rows, cols) {
		return
	}
	if ks := active(); ks.addRows != nil {
		ks.addRows(&dst[0], ldd, &src[0], lds, rows, cols)
		return
	}
	for r := 0; r < rows; r++ {
		d := dst[r*ldd : r*ldd+cols]
		for j, v := range src[r*lds : r*lds+cols] {
			d[j] += v
		}
	}
}

// checkRows panics if a rows×cols block does not fit in dst or src with the
// given strides, and reports whether there is anything to do.
func checkRows(name string, dst []float32, ldd int, src []float32, lds int, rows, cols int) bool {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("kernels: %s: negative size %d×%d", name, rows, cols))
	}
	if rows == 0 || cols == 0 {
		return false
	}
	if ldd < cols || lds < cols || len(dst) < (rows-1)*ldd+cols || len(src) < (rows-1)*lds+cols {
		panic(fmt.Sprintf("kernels: %s: %d×%d block with ldd=%d lds=%d does not fit len(dst)=%d len(src)=%d",
			name, rows, cols, ldd, lds, len(dst), len(src)))
	}
	return true
}

// Sum returns the sum of x in a fixed order for a given kernel set and
// length (vector lanes, then the lanes added together), like Dot.
func Sum(x []float32) float32 {
	ks := active()
	var s float32
	for len(x) > 0 {
		n := min(len(x), len(ones))
		s += ks.dot(x[:n], ones[:n])
		x = x[n:]
	}
	return s
}

// ones is the second operand Sum hands to the dot kernel.
var ones = func() []float32 {
	s := make([]float32, 4096)
	for i := range s {
		s[i] = 1
	}
	return s
}()

// SumRows adds the rows of the rows×cols row-major matrix x (row stride
// ld) into dst: dst[j] += sum over i of x[i*ld+j]. This is the bias
// gradient of a dense layer. Rows are added in order.
func SumRows(dst, x []float32, rows, cols, ld int) {
	if rows == 0 || cols == 0 {
		return
	}
	if rows < 0 || cols < 0 || ld < cols || len(dst) < cols || len(x) < (rows-1)*ld+cols {
		panic(fmt.Sprintf("kernels: SumRows: rows=%d cols=%d ld=%d len(x)=%d len(dst)=%d", rows, cols, ld, len(x), len(dst)))
	}
	ks := active()
	d := dst[:cols]
	for i := 0; i < rows; i++ {
		ks.axpy(1, x[i*ld:i*ld+cols], d)
	}
}

// AdamStep applies one Adam update to the parameters p with gradient g and
// moment estimates m and v, all of the same length:
//
//	m = beta1*m + (1-beta1)*g
//	v = beta2*v + (1-beta2)*g*g
//	p = p - lr*m / (sqrt(v) + eps)
//
// Every operation is rounded separately, so all kernel sets give bitwise
// identical results, and subnormal floats are flushed to zero wherever
// they appear, as operands or results (x86's FTZ and DAZ). The moments of
// a weight whose gradient stays zero — a pixel that is 0 in every MNIST
// image — decay through the subnormal range, where Intel cores compute
// through microcode assists: without the flush the update took three times
// as long by the third epoch of the MLP. A weight itself is changed only
// when it or its update is subnormal. Bias correction is left to the
// caller, who folds it into lr and eps: with t the step count, pass lr*sqrt(1-beta2^t)/(1-beta1^t)
// and eps*sqrt(1-beta2^t) to get the textbook update.
func AdamStep(p, g, m, v []float32, lr, beta1, beta2, eps float32) {
	n := len(p)
	if len(g) != n || len(m) != n || len(v) != n {
		panic(fmt.Sprintf("kernels: AdamStep: lengths p=%d g=%d m=%d v=%d differ", n, len(g), len(m), len(v)))
	}
	if n == 0 {
		return
	}
	active().adam(p, g, m, v, lr, beta1, 1-beta1, beta2, 1-beta2, eps)
}
