package nn

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// torchPoolDropout is testdata/torch_pool_dropout.json, written by
// testdata/torch_pool_dropout.py with PyTorch 1.13.
type torchPoolDropout struct {
	Pool []struct {
		Shape        []int
		K, Stride    int
		X, Y, DY, DX []float32
		Indices      []int32
	}
	Dropout []struct {
		P            float64
		X, Kept      []float32
		EvalIdentity bool `json:"eval_identity"`
	}
}

func loadTorchPoolDropout(t *testing.T) torchPoolDropout {
	t.Helper()
	b, err := os.ReadFile("testdata/torch_pool_dropout.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec torchPoolDropout
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// Max pooling picks the same window element as PyTorch when a window holds
// ties (the first in row-major order), in the forward pass and so in where
// the backward pass sends the gradient; 2×2 stride 2 takes the kernels'
// path, the other shapes the generic loop, with overlapping windows.
func TestMaxPoolTiesMatchPyTorch(t *testing.T) {
	rec := loadTorchPoolDropout(t)
	if len(rec.Pool) < 12 {
		t.Fatalf("testdata has %d pooling cases", len(rec.Pool))
	}
	for _, c := range rec.Pool {
		m, err := NewMaxPool2D("pool", c.K, c.Stride)
		if err != nil {
			t.Fatal(err)
		}
		x, err := FromSlice(append([]float32(nil), c.X...), c.Shape...)
		if err != nil {
			t.Fatal(err)
		}
		y := m.Forward(x, true)
		for i := range c.Y {
			if y.Data[i] != c.Y[i] || m.arg[i] != c.Indices[i] {
				t.Fatalf("%v k=%d s=%d: out %d = %g from %d, PyTorch %g from %d",
					c.Shape, c.K, c.Stride, i, y.Data[i], m.arg[i], c.Y[i], c.Indices[i])
			}
		}
		dy, _ := FromSlice(append([]float32(nil), c.DY...), y.Shape...)
		dx := m.Backward(dy, true)
		for i := range c.DX {
			if dx.Data[i] != c.DX[i] {
				t.Fatalf("%v k=%d s=%d: dx[%d] = %g, PyTorch %g", c.Shape, c.K, c.Stride, i, dx.Data[i], c.DX[i])
			}
		}
	}
}

// Dropout scales the kept values as PyTorch does (x/(1-p), inverted
// dropout) and passes the input through unchanged in evaluation.
func TestDropoutScalingMatchesPyTorch(t *testing.T) {
	rec := loadTorchPoolDropout(t)
	if len(rec.Dropout) < 8 {
		t.Fatalf("testdata has %d dropout cases", len(rec.Dropout))
	}
	for _, c := range rec.Dropout {
		d, err := NewDropout("drop", c.P, 3, 4)
		if err != nil {
			t.Fatal(err)
		}
		n := len(c.X)
		x := NewTensor(1, 512*n)
		for i := range x.Data {
			x.Data[i] = c.X[i%n]
		}
		y := d.Forward(x, true)
		kept, dropped := make([]int, n), 0
		for i, v := range y.Data {
			j := i % n
			switch {
			case v == 0:
				dropped++
			case v == c.Kept[j]: // bit for bit: float32(1/(1-p)) times x, as PyTorch
				kept[j]++
			default:
				t.Fatalf("p=%v: x=%g kept as %g, PyTorch %g", c.P, c.X[j], v, c.Kept[j])
			}
		}
		for j, k := range kept {
			if k == 0 {
				t.Fatalf("p=%v: x=%g never kept in 512 draws", c.P, c.X[j])
			}
		}
		// 4096 draws: the dropped fraction is within 5 standard deviations of p.
		if frac, sd := float64(dropped)/float64(len(y.Data)), math.Sqrt(c.P*(1-c.P)/float64(len(y.Data))); math.Abs(frac-c.P) > 5*sd {
			t.Errorf("p=%v: dropped fraction %.4f", c.P, frac)
		}
		if !c.EvalIdentity || d.Forward(x, false) != x {
			t.Errorf("p=%v: evaluation is not the identity", c.P)
		}
	}
}
