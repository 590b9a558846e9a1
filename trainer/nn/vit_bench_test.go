package nn

import "testing"

// BenchmarkViTStep is one training step of the default ViT (14×14 patches,
// dim 64, depth 6, 4 heads) on a batch of 128 digits.
func BenchmarkViTStep(b *testing.B) {
	m, err := ViT([]int{1, 28, 28}, 10, DefaultViT)
	if err != nil {
		b.Fatal(err)
	}
	benchModel(b, m, 1, 28, 28)
}
