package nn

import "testing"

// A dense layer is initialised as torch.nn.Linear: weight by
// kaiming_uniform_(a=√5) and bias uniform in ±1/√in, both bound 1/√in,
// weight first, from the generator it is given.
func TestDenseInitMatchesLinear(t *testing.T) {
	for _, in := range []int{1, 5, 64} {
		d := NewDense("fc", in, 3, testRNG(uint64(in)))
		ref := testRNG(uint64(in))
		wantKaiming(t, "weight", d.W.Data, in, ref)
		wantKaiming(t, "bias", d.B.Data, in, ref)
	}
}
