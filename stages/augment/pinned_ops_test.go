package augment

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"runtime"
	"testing"
)

// opPins are the digests of TestOpOutputsPinned's variants under Version, one
// per configuration, so that a change of bytes names the op it touched. When
// a change alters them on purpose, bump Version (part of the dataset hash)
// and update the digests with it, as for TestOutputPinned.
var opPins = []struct {
	name     string
	w, h, ch int
	specs    []Spec
	digest   string
}{
	{"rotate", 28, 28, 1, []Spec{{Op: "rotate", Params: p("degrees", 30)}}, "578fe7c79a49ca7f4b3579c7b9847d123a57764e144ade0b510c180120a3d695"},
	{"translate", 28, 28, 1, []Spec{{Op: "translate", Params: p("pixels", 3.5)}}, "ae7b80f60cc893c2b00a4f5717fc0cac1b113dc0671e74aafabff9deb790ffe6"},
	{"scale", 28, 28, 1, []Spec{{Op: "scale", Params: p("min", 0.7, "max", 1.3)}}, "55cd71f3cf6edf2b016ef1dd6dd3d916d616e46acf9e7489e8a205a4f680b4ca"},
	{"shear", 28, 28, 1, []Spec{{Op: "shear", Params: p("degrees", 20)}}, "bb373a096d0913c562e8046452e92c180c94fe590d548b800a461ba5f7981402"},
	{"rotate odd size", 17, 13, 1, []Spec{{Op: "rotate", Params: p("degrees", 45)}}, "5f21c8582f29ce23ca05e5b50f705d214924bdd2955d6619671778721925c045"},
	{"elastic odd size", 17, 13, 1, []Spec{{Op: "elastic", Params: p("alpha", 20, "sigma", 3)}}, "ff32724b787c2ceeeb7ee635e062e3839d95c82c80d6daa1c087b03ebb1cec63"},
	{"elastic small sigma", 28, 28, 1, []Spec{{Op: "elastic", Params: p("alpha", 8, "sigma", 0.2)}}, "2883a14258e3f4fcdc0874b7bc45abc1f1b8bfaa96dcfb858a7877e830895a58"},
	{"affine and elastic fused", 28, 28, 1, []Spec{{Op: "rotate", Params: p("degrees", 10)}, {Op: "translate", Params: p("pixels", 1.5)}, {Op: "elastic", Params: p("alpha", 34, "sigma", 4)}}, "89b85f0cc7f712893b8d7c9a8e1c9ec77a1388fe61a185d1b89dc4d4b3eca9a9"},
	{"noise", 28, 28, 1, []Spec{{Op: "noise", Params: p("stddev", 0.2)}}, "d9ada336177d5d90a5a0f3d453cad9b2325c3be60a31c08fea52e1dcd94ee3a2"},
	{"erase value", 28, 28, 1, []Spec{{Op: "erase", Params: p("max_fraction", 0.4, "min_fraction", 0.1, "value", 9)}}, "51a93270d6a2bfbec6f6bc30dbacaace70b63aa62ccb44d78f16544aa8b3bae5"},
	{"erase random", 17, 13, 1, []Spec{{Op: "erase", Params: p("max_fraction", 0.5, "random", 1)}}, "4d18b3de88673c4fda65f00fdf40e1dd8d48484905b3c10d4c8de556282829f7"},
	{"gates", 28, 28, 1, []Spec{{Op: "rotate", Params: p("degrees", 20, "p", 0.5)}, {Op: "noise", Params: p("stddev", 0.1, "p", 0.5)}, {Op: "erase", Params: p("max_fraction", 0.3, "p", 0.5)}}, "bb68585d4b86444a0720b52653bbcf12cbee6913b275ed79b29d73394f2fcab5"},
	{"three channels", 17, 13, 3, []Spec{{Op: "rotate", Params: p("degrees", 15)}, {Op: "elastic", Params: p("alpha", 10, "sigma", 2)}, {Op: "noise", Params: p("stddev", 0.1)}, {Op: "erase", Params: p("max_fraction", 0.3, "random", 1)}}, "9d2b7bab0c1ac7d55d66ffd1b0fd6b875397734dde96584d1bae69e281ece9c6"},
}

func TestOpOutputsPinned(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("digests pinned on amd64; other platforms are checked by the determinism tests")
	}
	for _, c := range opPins {
		a, err := New(1234, c.w, c.h, c.specs, WithChannels(c.ch))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		r := rand.New(rand.NewPCG(5, 6))
		h := sha256.New()
		dst := make([]uint8, a.Elems())
		changed := 0
		for i := uint64(0); i < 16; i++ {
			var src []uint8
			if i%2 == 0 {
				src = synthDigit(r, c.w*c.ch, c.h)
			} else {
				src = randomImage(r, c.w*c.ch, c.h)
			}
			for cp := 1; cp <= 2; cp++ {
				a.Apply(dst, src, 1000+i, cp)
				h.Write(dst)
				if !bytes.Equal(dst, src) {
					changed++
				}
			}
		}
		if changed < 16 {
			t.Errorf("%s: only %d of 32 variants differ from their source", c.name, changed)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != c.digest {
			t.Errorf("%s: output digest under %s is %s, pinned %s: if the change is intended, bump Version and the digest",
				c.name, Version, got, c.digest)
		}
	}
}
