package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/kernels"
)

// Dense.Forward, whose products write the bias themselves, gives the bits
// of the bias pass followed by the product with beta 1, in fp32, bf16 and
// bf16 with the weights packed, training and evaluating.
func TestDenseForwardBiasInProduct(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, s := range [][3]int{{1, 1, 1}, {13, 33, 64}, {257, 96, 12}, {4352, 64, 192}} {
		n, in, out := s[0], s[1], s[2]
		d := NewDense("d", in, out, r)
		x := NewTensor(n, in)
		for i := range x.Data {
			x.Data[i] = float32(r.NormFloat64())
		}
		for _, bf16 := range []bool{false, true} {
			for _, packed := range []bool{false, true} {
				if packed && !bf16 {
					continue
				}
				d.bf16, d.packedW = bf16, nil
				if packed {
					d.packedW = kernels.PackBF16(true, out, in, d.W.Data, in)
				}
				for _, train := range []bool{true, false} {
					want := make([]float32, n*out)
					fillRows(want, d.B.Data, n)
					switch {
					case packed && !train:
						kernels.SgemmBF16Packed(false, n, 1, x.Data, in, d.packedW, 1, want, out)
					case bf16:
						kernels.SgemmBF16(false, true, n, out, in, 1, x.Data, in, d.W.Data, in, 1, want, out)
					default:
						kernels.Sgemm(false, true, n, out, in, 1, x.Data, in, d.W.Data, in, 1, want, out)
					}
					got := d.Forward(x, train).Data
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%v bf16=%v packed=%v train=%v: y[%d] = %g, want %g", s, bf16, packed, train, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// biasVia is a product with a bias built from mm, the bias pass and then mm
// with beta 1, for tests that replace gemm or gemmBF16 to count or swap the
// products: with gemmBias (or gemmBF16Bias) set to it, they see the dense
// layers' forward products too.
func biasVia(mm func() gemmFunc) biasGemmFunc {
	return func(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
		for i := range m {
			copy(c[i*ldc:i*ldc+n], bias[:n])
		}
		mm()(transA, transB, m, n, k, 1, a, lda, b, ldb, 1, c, ldc)
	}
}

// useNaiveProducts makes every fp32 product the naive one until the test
// ends (tests that count allocations: the kernels' workspaces are pooled).
func useNaiveProducts(t *testing.T) {
	g, s, b := gemm, gemmSerial, gemmBias
	t.Cleanup(func() { gemm, gemmSerial, gemmBias = g, s, b })
	gemm, gemmSerial = naiveGemm, naiveGemm
	gemmBias = biasVia(func() gemmFunc { return gemm })
}

// fillRows sets each of the first rows rows of y (row length len(b)) to b,
// the bias pass the products with a bias replace (a GEMM with beta 1 then
// adds the product to it): the reference they are tested against. It copies b
// once and then doubles the filled prefix, so that rows of a few dozen
// values take log₂(rows) block copies rather than one call per row.
func fillRows(y, b []float32, rows int) {
	n := rows * len(b)
	if n == 0 {
		return
	}
	y = y[:n]
	done := copy(y, b)
	for done < n {
		done += copy(y[done:], y[:done])
	}
}
