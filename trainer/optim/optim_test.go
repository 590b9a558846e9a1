package optim

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/nn"
)

func param(name string, vals ...float32) *nn.Param {
	return &nn.Param{Name: name, Shape: []int{len(vals)}, Data: slices.Clone(vals), Grad: make([]float32, len(vals))}
}

// quadratic is f(p) = ½ Σ a_i (p_i − c_i)², with an ill-conditioned a.
type quadratic struct{ a, c []float32 }

func newQuadratic(n int) quadratic {
	r := rand.New(rand.NewPCG(1, 2))
	q := quadratic{a: make([]float32, n), c: make([]float32, n)}
	for i := range q.a {
		q.a[i] = 0.5 + 4*r.Float32()
		q.c[i] = 2*r.Float32() - 1
	}
	return q
}

func (q quadratic) grad(p *nn.Param) {
	for i := range p.Data {
		p.Grad[i] = q.a[i] * (p.Data[i] - q.c[i])
	}
}

func (q quadratic) dist(p *nn.Param) float64 {
	var s float64
	for i := range p.Data {
		d := float64(p.Data[i] - q.c[i])
		s += d * d
	}
	return math.Sqrt(s)
}

func TestConvergesOnQuadratic(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		sched Schedule
		steps int
	}{
		{"sgd", Config{Algorithm: SGD, LR: 0.1}, nil, 200},
		{"sgd-momentum", Config{Algorithm: SGD, LR: 0.05, Momentum: 0.9}, nil, 300},
		{"sgd-nesterov", Config{Algorithm: SGD, LR: 0.05, Momentum: 0.9, Nesterov: true}, nil, 300},
		{"adam", Config{Algorithm: Adam, LR: 0.05}, Cosine{Total: 600, MinFactor: 0.01}, 600},
		{"adamw", Config{Algorithm: AdamW, LR: 0.05}, Warmup{Steps: 20, Then: Cosine{Total: 600}}, 620},
		{"adam-clipped", Config{Algorithm: Adam, LR: 0.05, ClipNorm: 0.5}, Cosine{Total: 600}, 600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 40000 values: large enough to be split across workers.
			q := newQuadratic(40000)
			p := &nn.Param{Name: "w", Shape: []int{40000}, Data: make([]float32, 40000), Grad: make([]float32, 40000)}
			o, err := New(tc.cfg, tc.sched, Group{Params: []*nn.Param{p}})
			if err != nil {
				t.Fatal(err)
			}
			start := q.dist(p)
			for range tc.steps {
				q.grad(p)
				o.Step()
			}
			if d := q.dist(p); d > 1e-3*start {
				t.Errorf("distance to optimum %g after %d steps (start %g)", d, tc.steps, start)
			}
		})
	}
}

// adamRef is Adam (or AdamW) for one scalar, in float64, straight from the
// PyTorch documentation.
func adamRef(p float64, grads []float64, lr, b1, b2, eps, wd float64, decoupled bool) float64 {
	var m, v float64
	for i, g := range grads {
		t := float64(i + 1)
		if decoupled {
			p *= 1 - lr*wd
		} else {
			g += wd * p
		}
		m = b1*m + (1-b1)*g
		v = b2*v + (1-b2)*g*g
		mhat := m / (1 - math.Pow(b1, t))
		vhat := v / (1 - math.Pow(b2, t))
		p -= lr * mhat / (math.Sqrt(vhat) + eps)
	}
	return p
}

func TestAdamMatchesHandComputedSteps(t *testing.T) {
	grads := [][]float64{{0.5, -2, 1e-3}, {0.25, 1, -4}, {-0.1, 0.3, 2}}
	init := []float32{1, -0.5, 2}
	for _, tc := range []struct {
		alg   Algorithm
		decay float64
		clip  float64
	}{{Adam, 0, 0}, {Adam, 0.1, 0}, {AdamW, 0.1, 0}, {AdamW, 0, 0}, {Adam, 0, 100}} {
		alg := tc.alg
		cfg := Config{Algorithm: alg, LR: 0.01, Beta1: 0.8, Beta2: 0.95, Eps: 1e-6, WeightDecay: tc.decay, ClipNorm: tc.clip}
		p := param("w", init...)
		o, err := New(cfg, nil, Group{Params: []*nn.Param{p}})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range grads {
			for i := range g {
				p.Grad[i] = float32(g[i])
			}
			o.Step()
		}
		for i := range init {
			var gs []float64
			for _, g := range grads {
				gs = append(gs, g[i])
			}
			want := adamRef(float64(init[i]), gs, 0.01, 0.8, 0.95, 1e-6, tc.decay, alg == AdamW)
			if math.Abs(float64(p.Data[i])-want) > 1e-6 {
				t.Errorf("%+v: p[%d] = %.8f, want %.8f", tc, i, p.Data[i], want)
			}
		}
	}
}

func TestSGDMatchesHandComputedSteps(t *testing.T) {
	grads := []float64{0.5, -1, 2}
	for _, nesterov := range []bool{false, true} {
		lr, mom, wd := 0.1, 0.9, 0.01
		p := param("w", 1)
		o, err := New(Config{Algorithm: SGD, LR: lr, Momentum: mom, Nesterov: nesterov, WeightDecay: wd}, nil, Group{Params: []*nn.Param{p}})
		if err != nil {
			t.Fatal(err)
		}
		want, buf := 1.0, 0.0
		for _, g := range grads {
			p.Grad[0] = float32(g)
			o.Step()
			d := g + wd*want
			buf = mom*buf + d
			if nesterov {
				d += mom * buf
			} else {
				d = buf
			}
			want -= lr * d
		}
		if math.Abs(float64(p.Data[0])-want) > 1e-6 {
			t.Errorf("nesterov=%v: p = %.8f, want %.8f", nesterov, p.Data[0], want)
		}
	}
}

func TestClippingFrozenAndGroups(t *testing.T) {
	body := param("body.w", 1, 1)
	head := param("head.w", 1, 1)
	frozen := param("body.frozen", 5)
	frozen.Frozen = true
	copy(body.Grad, []float32{3, 0})
	copy(head.Grad, []float32{0, 4})
	frozen.Grad[0] = 100 // must not count towards the norm
	zero := 0.0
	groups := GroupParams([]*nn.Param{body, head, frozen}, Rule{Prefix: "head.", LRScale: 10, WeightDecay: &zero})
	if len(groups) != 2 || groups[0].Name != "head." || groups[1].Name != "default" {
		t.Fatalf("groups %+v", groups)
	}
	o, err := New(Config{Algorithm: SGD, LR: 0.01, WeightDecay: 0.5, ClipNorm: 1}, nil, groups...)
	if err != nil {
		t.Fatal(err)
	}
	info := o.Step()
	if math.Abs(info.GradNorm-5) > 1e-9 || !info.Clipped {
		t.Fatalf("step info %+v, want norm 5, clipped", info)
	}
	scale := 1 / (5 + 1e-6)
	wantBody := []float64{1 - 0.01*(3*scale+0.5*1), 1 - 0.01*(0+0.5*1)}
	wantHead := []float64{1 - 0.1*0, 1 - 0.1*4*scale}
	for i := range 2 {
		if math.Abs(float64(body.Data[i])-wantBody[i]) > 1e-6 || math.Abs(float64(head.Data[i])-wantHead[i]) > 1e-6 {
			t.Errorf("[%d] body %v head %v, want %v %v", i, body.Data[i], head.Data[i], wantBody[i], wantHead[i])
		}
	}
	if frozen.Data[0] != 5 {
		t.Errorf("frozen parameter moved to %v", frozen.Data[0])
	}
	if body.Grad[0] != 3 {
		t.Errorf("clipping modified Grad: %v", body.Grad[0])
	}
	if _, err := New(Config{Algorithm: SGD, LR: 1}, nil, Group{Params: []*nn.Param{body}}, Group{Params: []*nn.Param{body}}); err == nil {
		t.Error("duplicate parameter accepted")
	}
	if _, err := New(Config{Algorithm: "lion", LR: 1}, nil); err == nil || !strings.Contains(err.Error(), "lion") {
		t.Errorf("unknown algorithm: %v", err)
	}
}

func TestSchedules(t *testing.T) {
	const base = 0.1
	cos := func(step, total int64, min float64) float64 {
		return min + (1-min)*0.5*(1+math.Cos(math.Pi*float64(step)/float64(total)))
	}
	for _, tc := range []struct {
		name string
		cfg  ScheduleConfig
		step int64
		want float64
	}{
		{"constant", ScheduleConfig{}, 12345, 1},
		{"step-before", ScheduleConfig{Kind: "step", StepSize: 100, Gamma: 0.5}, 99, 1},
		{"step-at", ScheduleConfig{Kind: "step", StepSize: 100, Gamma: 0.5}, 100, 0.5},
		{"step-3", ScheduleConfig{Kind: "step", StepSize: 100, Gamma: 0.5}, 350, math.Pow(0.5, 3)},
		{"cosine-start", ScheduleConfig{Kind: "cosine", TotalSteps: 1000, MinFactor: 0.1}, 0, 1},
		{"cosine-quarter", ScheduleConfig{Kind: "cosine", TotalSteps: 1000, MinFactor: 0.1}, 250, cos(250, 1000, 0.1)},
		{"cosine-half", ScheduleConfig{Kind: "cosine", TotalSteps: 1000, MinFactor: 0.1}, 500, 0.55},
		{"cosine-end", ScheduleConfig{Kind: "cosine", TotalSteps: 1000, MinFactor: 0.1}, 5000, 0.1},
		{"warmup-start", ScheduleConfig{WarmupSteps: 10, WarmupStart: 0.2}, 0, 0.2},
		{"warmup-mid", ScheduleConfig{WarmupSteps: 10, WarmupStart: 0.2}, 5, 0.2 + 0.8*5.0/10},
		{"warmup-then-cosine", ScheduleConfig{Kind: "cosine", TotalSteps: 100, WarmupSteps: 10}, 10 + 30, cos(30, 100, 0)},
		{"warmup-then-step", ScheduleConfig{Kind: "step", StepSize: 5, Gamma: 0.1, WarmupSteps: 10}, 10 + 7, 0.1},
	} {
		s, err := tc.cfg.Schedule()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := s.Factor(tc.step); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: factor at %d = %v, want %v", tc.name, tc.step, got, tc.want)
		}
	}
	// The optimizer applies the factor at its own step count.
	p := param("w", 0)
	sched := StepDecay{StepSize: 2, Gamma: 0.1}
	o, _ := New(Config{Algorithm: SGD, LR: base}, sched, Group{Params: []*nn.Param{p}})
	for step := int64(0); step < 5; step++ {
		if got, want := o.LR(), base*math.Pow(0.1, float64(step/2)); math.Abs(got-want) > 1e-15 {
			t.Errorf("LR at step %d = %v, want %v", step, got, want)
		}
		if info := o.Step(); info.LR != o.cfg.LR*sched.Factor(step) {
			t.Errorf("step %d used LR %v", step, info.LR)
		}
	}
	for _, bad := range []ScheduleConfig{{Kind: "exp"}, {Kind: "step"}, {Kind: "cosine", TotalSteps: 10, MinFactor: 2}, {WarmupSteps: -1}} {
		if _, err := bad.Schedule(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestStateRoundTripResumesExactly(t *testing.T) {
	for _, cfg := range []Config{
		{Algorithm: Adam, LR: 0.01},
		{Algorithm: SGD, LR: 0.01, Momentum: 0.9},
		{Algorithm: AdamW, LR: 0.01, WeightDecay: 0.1},
	} {
		q := newQuadratic(50)
		a := &nn.Param{Name: "fc.weight", Data: make([]float32, 50), Grad: make([]float32, 50)}
		b := &nn.Param{Name: "fc.weight", Data: make([]float32, 50), Grad: make([]float32, 50)}
		oa, _ := New(cfg, Cosine{Total: 10}, Group{Params: []*nn.Param{a}})
		for range 3 {
			q.grad(a)
			oa.Step()
		}
		st := oa.State()
		if st.Step != 3 || len(st.Tensors) == 0 {
			t.Fatalf("%s: state %d tensors at step %d", cfg.Algorithm, len(st.Tensors), st.Step)
		}
		copy(b.Data, a.Data)
		ob, _ := New(cfg, Cosine{Total: 10}, Group{Params: []*nn.Param{b}})
		if err := ob.LoadState(st); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			q.grad(a)
			oa.Step()
			q.grad(b)
			ob.Step()
		}
		if !slices.Equal(a.Data, b.Data) {
			t.Errorf("%s: resumed optimizer diverged", cfg.Algorithm)
		}
	}
	p := param("w", 1, 2)
	o, _ := New(Config{Algorithm: Adam, LR: 0.1}, nil, Group{Params: []*nn.Param{p}})
	st := o.State()
	st.Tensors["w.exp_avg"] = []float32{1}
	st.Tensors["v.exp_avg"] = []float32{1}
	err := o.LoadState(st)
	for _, want := range []string{`"w.exp_avg" has 1 values`, `unexpected "v.exp_avg"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadState error %v, want mention of %s", err, want)
		}
	}
	if err := o.LoadState(State{Algorithm: SGD}); err == nil {
		t.Error("state of another algorithm accepted")
	}
}

func TestGradNormIndependentOfWorkers(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	p := &nn.Param{Name: "w", Data: make([]float32, 100003), Grad: make([]float32, 100003)}
	var want float64
	for i := range p.Grad {
		p.Grad[i] = r.Float32() - 0.5
		want += float64(p.Grad[i]) * float64(p.Grad[i])
	}
	o, _ := New(Config{Algorithm: SGD, LR: 0.1}, nil, Group{Params: []*nn.Param{p}})
	prev := runtime.GOMAXPROCS(1)
	one := o.GradNorm()
	runtime.GOMAXPROCS(4)
	four := o.GradNorm()
	runtime.GOMAXPROCS(prev)
	if one != four {
		t.Errorf("norm %v with 1 worker, %v with 4", one, four)
	}
	if math.Abs(one-math.Sqrt(want)) > 1e-9*math.Sqrt(want) {
		t.Errorf("norm %v, want %v", one, math.Sqrt(want))
	}
}
