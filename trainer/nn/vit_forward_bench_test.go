package nn

import (
	"fmt"
	"testing"
)

// BenchmarkViTForwardEval is the evaluation forward pass of the default
// ViT on a batch of 256 digits, in fp32 and in bf16 with the weights packed
// (as trainer eval runs it): with its 14×14 patches (5 tokens: 1280 rows
// through dense layers 64 to 192 wide and 1024 attention heads of 5×5
// scores per block) and with 7×7 patches (17 tokens, 4352 rows).
func BenchmarkViTForwardEval(b *testing.B) {
	const n = 256
	for _, patch := range []int{14, 7} {
		cfg := DefaultViT
		cfg.Patch = patch
		for _, p := range []Precision{FP32, BF16} {
			b.Run(fmt.Sprintf("patch=%d/precision=%s", patch, p), func(b *testing.B) {
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
}
