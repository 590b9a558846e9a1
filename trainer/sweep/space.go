// Package sweep searches hyper-parameters of the trainer: it proposes trials
// from a space of flag values (a grid and seeded random draws), trains each
// as an ordinary run directory, stops the clearly worse ones early by
// successive halving on val loss, chooses a trial on the val split only,
// evaluates the test split once for the chosen trial, and records all of it
// in a sweep directory so that rerunning the same sweep continues it.
//
// The proposals are a pure function of the space and the seed, so the same
// command proposes the same trials on any machine; halving is synchronous
// (every trial of a rung finishes before any is promoted), so which trials
// are stopped does not depend on timing either.
package sweep

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Kind is how a parameter's values are chosen.
type Kind string

// The kinds of parameter. Grid values are crossed with each other; the
// others are drawn per trial from the sweep's seed.
const (
	Grid       Kind = "grid"
	Uniform    Kind = "uniform"    // a real in [Lo, Hi)
	LogUniform Kind = "loguniform" // a real whose log is uniform in [log Lo, log Hi)
	Choice     Kind = "choice"     // one of Values, each equally likely
)

// Param is one swept trainer flag.
type Param struct {
	Name   string   `json:"name"` // the flag, without dashes
	Kind   Kind     `json:"kind"`
	Values []string `json:"values,omitempty"` // Grid and Choice
	Lo     float64  `json:"lo,omitempty"`     // Uniform and LogUniform
	Hi     float64  `json:"hi,omitempty"`
}

// Space is the swept parameters, in the order they were given.
type Space struct {
	Params []Param `json:"params"`
}

// Value is one parameter's value in a trial, as the flag takes it.
type Value struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ParseGrid parses a --grid argument, NAME=V1,V2,... (or NAME=V1|V2|...
// for values that hold commas).
func ParseGrid(s string) (Param, error) {
	name, rest, err := splitParam(s, "NAME=V1,V2,...")
	if err != nil {
		return Param{}, err
	}
	vals, err := list(rest)
	if err != nil {
		return Param{}, fmt.Errorf("%q: %v (want NAME=V1,V2,...)", s, err)
	}
	return Param{Name: name, Kind: Grid, Values: vals}, nil
}

// ParseRandom parses a --random argument: NAME=uniform(LO,HI),
// NAME=loguniform(LO,HI) or NAME=choice(V1,V2,...).
func ParseRandom(s string) (Param, error) {
	const want = "NAME=uniform(LO,HI), NAME=loguniform(LO,HI) or NAME=choice(V1,V2,...)"
	name, rest, err := splitParam(s, want)
	if err != nil {
		return Param{}, err
	}
	open := strings.IndexByte(rest, '(')
	if open < 0 || !strings.HasSuffix(rest, ")") {
		return Param{}, fmt.Errorf("%q: want %s", s, want)
	}
	kind, args := Kind(strings.TrimSpace(rest[:open])), rest[open+1:len(rest)-1]
	vals, err := list(args)
	if err != nil {
		return Param{}, fmt.Errorf("%q: %v (want %s)", s, err, want)
	}
	p := Param{Name: name, Kind: kind}
	switch kind {
	case Choice:
		p.Values = vals
		return p, nil
	case Uniform, LogUniform:
		if len(vals) != 2 {
			return Param{}, fmt.Errorf("%q: %s takes two bounds, LO and HI; got %d values", s, kind, len(vals))
		}
		lo, err1 := strconv.ParseFloat(vals[0], 64)
		hi, err2 := strconv.ParseFloat(vals[1], 64)
		switch {
		case err1 != nil || err2 != nil || math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0):
			return Param{}, fmt.Errorf("%q: the bounds of %s must be finite numbers", s, kind)
		case lo >= hi:
			return Param{}, fmt.Errorf("%q: LO %g must be below HI %g", s, lo, hi)
		case kind == LogUniform && lo <= 0:
			return Param{}, fmt.Errorf("%q: loguniform needs LO > 0 (got %g)", s, lo)
		}
		p.Lo, p.Hi = lo, hi
		return p, nil
	}
	return Param{}, fmt.Errorf("%q: unknown distribution %q (want %s)", s, kind, want)
}

func splitParam(s, want string) (name, rest string, err error) {
	name, rest, ok := strings.Cut(s, "=")
	name = strings.TrimLeft(strings.TrimSpace(name), "-")
	if !ok || name == "" {
		return "", "", fmt.Errorf("%q: want %s", s, want)
	}
	return name, strings.TrimSpace(rest), nil
}

// list splits a list of values, refusing empty items. Values are
// separated by commas, or by | when there is one, so that a value may hold
// commas itself (hidden=512,256|128: two values of --hidden).
func list(s string) ([]string, error) {
	sep := ","
	if strings.Contains(s, "|") {
		sep = "|"
	}
	var out []string
	for v := range strings.SplitSeq(s, sep) {
		v = strings.TrimSpace(v)
		if v == "" {
			return nil, fmt.Errorf("empty value")
		}
		out = append(out, v)
	}
	return out, nil
}

// Check refuses a space that names a flag twice, and asks check (the
// trainer's own flag parser) whether each value, or each bound of a range,
// is one the flag accepts, so that a mistake is reported before anything
// trains.
func (sp Space) Check(check func(name, value string) error) error {
	seen := map[string]bool{}
	for _, p := range sp.Params {
		if seen[p.Name] {
			return fmt.Errorf("%s is swept twice: give each flag one --grid or --random", p.Name)
		}
		seen[p.Name] = true
		vals := p.Values
		if p.Kind == Uniform || p.Kind == LogUniform {
			vals = []string{format(p.Lo), format(p.Hi)}
		}
		for _, v := range vals {
			if err := check(p.Name, v); err != nil {
				return fmt.Errorf("%s=%s: %w", p.Name, v, err)
			}
		}
	}
	return nil
}

// GridSize is the number of points of the grid: the product of the
// numbers of values of the grid parameters (1 without any).
func (sp Space) GridSize() int {
	n := 1
	for _, p := range sp.Params {
		if p.Kind == Grid {
			n *= len(p.Values)
		}
	}
	return n
}

// Random reports whether any parameter is drawn at random.
func (sp Space) Random() bool {
	for _, p := range sp.Params {
		if p.Kind != Grid {
			return true
		}
	}
	return false
}

// DefaultTrials is the number of trials when none is asked for: the grid,
// or four draws per grid point when a parameter is drawn at random.
func (sp Space) DefaultTrials() int {
	if sp.Random() {
		return 4 * sp.GridSize()
	}
	return sp.GridSize()
}

// Propose returns the values of trials 0..n-1. It is a pure function of
// (space, seed, n), and trial i does not depend on n: trial i takes grid
// point i mod GridSize (the last grid parameter varying fastest) and draws
// its random parameters, in order, from a generator seeded by (seed, i).
// Drawn reals are rounded to 3 significant digits, which keeps the flags
// readable and the trials identical wherever they are proposed.
func (sp Space) Propose(seed uint64, n int) [][]Value {
	trials := make([][]Value, n)
	g := sp.GridSize()
	for i := range n {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		vals := make([]Value, len(sp.Params))
		point := i % g
		// Decode the grid point, last parameter fastest.
		for j := len(sp.Params) - 1; j >= 0; j-- {
			if p := sp.Params[j]; p.Kind == Grid {
				vals[j] = Value{p.Name, p.Values[point%len(p.Values)]}
				point /= len(p.Values)
			}
		}
		for j, p := range sp.Params {
			switch p.Kind {
			case Choice:
				vals[j] = Value{p.Name, p.Values[rng.IntN(len(p.Values))]}
			case Uniform:
				vals[j] = Value{p.Name, format(round3(p.Lo + (p.Hi-p.Lo)*rng.Float64()))}
			case LogUniform:
				l, h := math.Log(p.Lo), math.Log(p.Hi)
				vals[j] = Value{p.Name, format(round3(math.Exp(l + (h-l)*rng.Float64())))}
			}
		}
		trials[i] = vals
	}
	return trials
}

func round3(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 3, 64), 64)
	return v
}

func format(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// Args are the command-line flags that set vals: --name=value each.
func Args(vals []Value) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = "--" + v.Name + "=" + v.Value
	}
	return out
}
