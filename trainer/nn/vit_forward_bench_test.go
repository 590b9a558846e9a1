package nn

import (
	"fmt"
	"testing"
)

// BenchmarkViTForwardEval is the evaluation forward pass of the default
// ViT with 7×7 patches (17 tokens) on a batch of 256 digits: 4352 rows
// through dense layers 64 to 192 wide, where a serial bias pass over each
// output is a visible share; in fp32 and in bf16 with the weights packed
// (as trainer eval runs it).
func BenchmarkViTForwardEval(b *testing.B) {
	cfg := DefaultViT
	cfg.Patch = 7
	const n = 256
	for _, p := range []Precision{FP32, BF16} {
		b.Run(fmt.Sprintf("precision=%s", p), func(b *testing.B) {
			m, err := ViT([]int{1, 28, 28}, 10, cfg)
			if err != nil {
				b.Fatal(err)
			}
			if err := m.SetPrecision(p); err != nil {
				b.Fatal(err)
			}
			if p == BF16 {
				defer m.PackForInference()()
			}
			x, _ := batch(1, n, 1, 28, 28)
			m.Forward(x, false)
			b.ResetTimer()
			for range b.N {
				if _, err := m.Forward(x, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
