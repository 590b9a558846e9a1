package nn

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// negate is a layer defined only here: y = -x, with optional fusion of a
// following ReLU, so the tests below show that Sequential finds behaviour
// through the optional interfaces, not through a list of known types.
type negate struct {
	name  string
	fuse  bool // whether it accepts a ReLU (Fuser)
	relu  bool
	swaps bool // whether a ReLU in front may move behind it (Commuter)
	y, dx Tensor
}

func (n *negate) Name() string                     { return n.name }
func (n *negate) Spec() LayerSpec                  { return LayerSpec{Type: "negate", Name: n.name} }
func (n *negate) OutShape(in []int) ([]int, error) { return slices.Clone(in), nil }
func (n *negate) Params() []*Param                 { return nil }

func (n *negate) Forward(x *Tensor, train bool) *Tensor {
	n.y.resize(x.Shape...)
	n.y.Layout = x.Layout
	for i, v := range x.Data {
		n.y.Data[i] = -v
		if n.relu && n.y.Data[i] < 0 {
			n.y.Data[i] = 0
		}
	}
	return &n.y
}

func (n *negate) Backward(dy *Tensor, needDX bool) *Tensor {
	n.dx.resize(dy.Shape...)
	n.dx.Layout = dy.Layout
	for i, g := range dy.Data {
		if n.relu && n.y.Data[i] == 0 {
			g = 0
		}
		n.dx.Data[i] = -g
	}
	return &n.dx
}

type fusingNegate struct{ negate }

func (n *fusingNegate) Fuse(next Layer) bool {
	_, n.relu = next.(*ReLU)
	return n.relu
}

type commutingNegate struct{ negate }

func (n *commutingNegate) CommutesWith(prev Layer) bool {
	_, ok := prev.(*ReLU)
	return ok
}

// testHead is a classifier head defined only here.
type testHead struct {
	negate
	in, out int
	made    int // outputs of the head NewHead made, 0 if not called
}

func (h *testHead) Features() (in, out int) { return h.in, h.out }
func (h *testHead) NewHead(out int, rng *rand.Rand) Layer {
	h.made = out
	return NewDense(h.name, h.in, out, rng)
}

func planNames(m *Sequential) []string {
	var out []string
	for _, l := range m.plan {
		out = append(out, l.Name())
	}
	return out
}

func TestFuserFromOutsideThePackageList(t *testing.T) {
	neg := &fusingNegate{negate{name: "neg"}}
	m, err := NewSequential("m", []int{4}, 1, neg, NewReLU("act"))
	if err != nil {
		t.Fatal(err)
	}
	if got := planNames(m); !slices.Equal(got, []string{"neg"}) {
		t.Fatalf("plan %v, want the ReLU fused into neg", got)
	}
	x := &Tensor{Shape: []int{1, 4}, Data: []float32{-2, -1, 1, 2}}
	y, err := m.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{2, 1, 0, 0}; !slices.Equal(y.Data, want) {
		t.Errorf("fused output %v, want %v", y.Data, want)
	}

	// A layer without Fuse keeps its ReLU as a separate step.
	plain := &negate{name: "neg"}
	m, err = NewSequential("m", []int{4}, 1, plain, NewReLU("act"))
	if err != nil {
		t.Fatal(err)
	}
	if got := planNames(m); !slices.Equal(got, []string{"neg", "act"}) {
		t.Fatalf("plan %v, want neg then act", got)
	}
}

func TestCommuterFromOutsideThePackageList(t *testing.T) {
	m, err := NewSequential("m", []int{4}, 1, NewReLU("act"), &commutingNegate{negate{name: "neg"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := planNames(m); !slices.Equal(got, []string{"neg", "act"}) {
		t.Fatalf("plan %v, want the ReLU moved behind neg", got)
	}
	m, err = NewSequential("m", []int{4}, 1, NewReLU("act"), &negate{name: "neg"})
	if err != nil {
		t.Fatal(err)
	}
	if got := planNames(m); !slices.Equal(got, []string{"act", "neg"}) {
		t.Fatalf("plan %v, want the order kept for a layer that does not commute", got)
	}
}

func TestHeadFromOutsideThePackageList(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	head := &testHead{negate: negate{name: "cls"}, in: 4, out: 4}
	m, err := NewSequential("m", []int{6}, 1, NewDense("fc", 6, 4, rng), NewReLU("act"), head)
	if err != nil {
		t.Fatal(err)
	}
	if h := m.Head(); h == nil || h.Name() != "cls" {
		t.Fatalf("Head() = %v, want the test head cls after the dense fc", h)
	}
	if err := m.ReplaceHead(3, 7); err != nil {
		t.Fatal(err)
	}
	if head.made != 3 {
		t.Fatalf("ReplaceHead did not ask the head for its replacement (made %d)", head.made)
	}
	d, ok := m.Layers()[2].(*Dense)
	if !ok || d.Name() != "cls" {
		t.Fatalf("layer 2 is %T %q after ReplaceHead, want the Dense the test head made", m.Layers()[2], m.Layers()[2].Name())
	}
	if in, out := d.Features(); in != 4 || out != 3 {
		t.Errorf("new head %d→%d, want 4→3", in, out)
	}

	// Without any Head the model has nothing to replace.
	m, err = NewSequential("m", []int{4}, 1, &negate{name: "neg"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Head() != nil || m.ReplaceHead(3, 7) == nil {
		t.Error("a model without a head reports one or replaces it")
	}
}
