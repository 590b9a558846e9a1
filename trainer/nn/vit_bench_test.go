package nn

import (
	"fmt"
	"testing"
)

// BenchmarkViTStep is one training step of the default ViT (14×14 patches,
// dim 64, depth 6, 4 heads) and of the same ViT with 4×4 patches (the
// default before, 49 tokens: where attention is a large share of a step),
// on a batch of 16 digits (the recipe's batch) and of 128, with the
// attention heads on the fused kernels and, as "unfused", on the packed
// GEMMs they replaced.
func BenchmarkViTStep(b *testing.B) {
	for _, patch := range []int{DefaultViT.Patch, 4} {
		cfg := DefaultViT
		cfg.Patch = patch
		for _, size := range []int{16, 128} {
			for _, unfused := range []bool{false, true} {
				name := fmt.Sprintf("patch=%d/batch=%d/fused", patch, size)
				if unfused {
					name = fmt.Sprintf("patch=%d/batch=%d/unfused", patch, size)
				}
				b.Run(name, func(b *testing.B) {
					m, err := ViT([]int{1, 28, 28}, 10, cfg)
					if err != nil {
						b.Fatal(err)
					}
					blocks := 0
					for _, l := range m.layers {
						if blk, ok := l.(*Block); ok {
							blk.attn.unfused = unfused
							blocks++
						}
					}
					if blocks != DefaultViT.Depth {
						b.Fatalf("%d blocks, want %d", blocks, DefaultViT.Depth)
					}
					benchModelBatch(b, m, size, 1, 28, 28)
				})
			}
		}
	}
}
