package nn

import (
	"math"
	"testing"
)

// Block forms its residual sums in place in the branch outputs and in the
// norms' input gradients. This test runs a block and, on an identical
// second block, its sublayers one by one with the residual sums in fresh
// buffers (x1 = x + attn(norm1(x)), y = x1 + mlp(norm2(x1)), and the
// gradient sums likewise), and wants the same bits in the output, the input
// gradient and every parameter gradient — in training, over two steps (so
// buffers reused from the first step are overwritten correctly), and in
// evaluation.
func TestBlockResidualInPlaceMatchesSublayers(t *testing.T) {
	const n, tok, d, heads, hidden = 3, 5, 8, 2, 12
	mk := func() *Block {
		b, err := NewBlock("blocks.0", d, heads, hidden, 0, 0, testRNG(11), 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	got, ref := mk(), mk()
	add := func(a, b []float32) []float32 {
		s := make([]float32, len(a))
		for i := range a {
			s[i] = a[i] + b[i]
		}
		return s
	}
	flat := func(x []float32, shape ...int) *Tensor {
		c := NewTensor(shape...)
		copy(c.Data, x)
		return c
	}
	for step := 0; step < 2; step++ {
		x := randTensor(testRNG(uint64(20+step)), false, n, tok, d)
		dy := randTensor(testRNG(uint64(30+step)), false, n, tok, d)

		y := got.Forward(x, true)
		yData := append([]float32(nil), y.Data...)
		dx := got.Backward(dy, true)

		a := ref.attn.Forward(ref.norm1.Forward(x, true), true)
		x1 := flat(add(x.Data, a.Data), n, tok, d)
		h2 := ref.norm2.Forward(x1, true)
		f := ref.act.Forward(ref.fc1.Forward(flat(h2.Data, n*tok, d), true), true)
		m := ref.fc2.Forward(f, true)
		want := add(x1.Data, m.Data)

		dh2 := ref.fc1.Backward(ref.act.Backward(ref.fc2.Backward(flat(dy.Data, n*tok, d), true), true), true)
		dx1 := add(dy.Data, ref.norm2.Backward(flat(dh2.Data, n, tok, d), true).Data)
		dn1 := ref.norm1.Backward(ref.attn.Backward(flat(dx1, n, tok, d), true), true)
		wantDX := add(dx1, dn1.Data)

		same(t, "output", step, yData, want)
		same(t, "input gradient", step, dx.Data, wantDX)
		for i, p := range got.Params() {
			same(t, p.Name+" gradient", step, p.Grad, ref.Params()[i].Grad)
		}
	}
	x := randTensor(testRNG(40), false, n, tok, d)
	y := got.Forward(x, false)
	a := ref.attn.Forward(ref.norm1.Forward(x, false), false)
	x1 := flat(add(x.Data, a.Data), n, tok, d)
	m := ref.fc2.Forward(ref.act.Forward(ref.fc1.Forward(flat(ref.norm2.Forward(x1, false).Data, n*tok, d), false), false), false)
	same(t, "eval output", 0, y.Data, add(x1.Data, m.Data))
}

func same(t *testing.T, what string, step int, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("step %d: %s has %d values, want %d", step, what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("step %d: %s[%d] = %v, want %v (bitwise)", step, what, i, got[i], want[i])
		}
	}
}

// fillRows, the bias pass the tests compare the bias products with: every row a
// copy of b, nothing written past rows·len(b).
func TestFillRows(t *testing.T) {
	for _, rows := range []int{0, 1, 2, 3, 7, 64, 100} {
		b := []float32{1, -2, 3.5}
		y := make([]float32, rows*len(b)+2)
		y[len(y)-1], y[len(y)-2] = 9, 9
		fillRows(y, b, rows)
		for r := 0; r < rows; r++ {
			for j, v := range b {
				if y[r*len(b)+j] != v {
					t.Fatalf("rows=%d: y[%d][%d] = %v, want %v", rows, r, j, y[r*len(b)+j], v)
				}
			}
		}
		if y[len(y)-1] != 9 || y[len(y)-2] != 9 {
			t.Fatalf("rows=%d: fillRows wrote past its rows", rows)
		}
	}
}
