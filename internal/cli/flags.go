package cli

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Numeric flags are registered through IntVar and FloatVar, which check each
// value as it is parsed: a value out of range, NaN, ±Inf, a fraction for an
// integer or anything that is not a number is a usage error that the flag
// package reports as
//
//	invalid value "NaN" for flag -lr: want a finite number > 0
//
// naming the flag, the value and the accepted range. Checking at parse time
// means no command can reach its work with a value it cannot handle.

// Numeric is implemented by the values of numeric flags registered here.
type Numeric interface {
	flag.Value
	numeric()
}

type intValue struct {
	p      *int
	lo, hi int
}

func (v *intValue) numeric() {}

func (v *intValue) String() string {
	if v == nil || v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}

func (v *intValue) Set(s string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < int64(v.lo) || n > int64(v.hi) {
		return fmt.Errorf("want an integer from %d to %d", v.lo, v.hi)
	}
	*v.p = int(n)
	return nil
}

// IntVar defines an int flag that accepts only integers in [lo, hi].
func IntVar(fs *flag.FlagSet, p *int, name string, value, lo, hi int, usage string) {
	*p = value
	fs.Var(&intValue{p: p, lo: lo, hi: hi}, name, fmt.Sprintf("%s (`int` %d to %d)", usage, lo, hi))
}

// Int is IntVar returning the variable.
func Int(fs *flag.FlagSet, name string, value, lo, hi int, usage string) *int {
	p := new(int)
	IntVar(fs, p, name, value, lo, hi, usage)
	return p
}

// Range is the set of values a float flag accepts: finite, at least Min (or
// above it when MinOpen) and at most Max (or below it when MaxOpen).
type Range struct {
	Min, Max         float64
	MinOpen, MaxOpen bool
}

// Common ranges.
var (
	NonNegative = Range{Min: 0, Max: math.MaxFloat64}
	Positive    = Range{Min: 0, MinOpen: true, Max: math.MaxFloat64}
	Fraction    = Range{Min: 0, Max: 1, MaxOpen: true} // [0, 1)
)

func (r Range) contains(x float64) bool {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return false
	}
	if x < r.Min || r.MinOpen && x == r.Min || x > r.Max || r.MaxOpen && x == r.Max {
		return false
	}
	return true
}

func (r Range) String() string { return "a finite number " + r.bounds() }

func (r Range) bounds() string {
	lo := fmt.Sprintf("≥ %g", r.Min)
	if r.MinOpen {
		lo = fmt.Sprintf("> %g", r.Min)
	}
	switch {
	case r.Max == math.MaxFloat64:
		return lo
	case r.MaxOpen:
		return fmt.Sprintf("%s and < %g", lo, r.Max)
	}
	return fmt.Sprintf("%s and ≤ %g", lo, r.Max)
}

type floatValue struct {
	p *float64
	r Range
}

func (v *floatValue) numeric() {}

func (v *floatValue) String() string {
	if v == nil || v.p == nil {
		return "0"
	}
	return strconv.FormatFloat(*v.p, 'g', -1, 64)
}

func (v *floatValue) Set(s string) error {
	x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || !v.r.contains(x) {
		return fmt.Errorf("want %s", v.r)
	}
	*v.p = x
	return nil
}

// FloatVar defines a float64 flag that accepts only values in r.
func FloatVar(fs *flag.FlagSet, p *float64, name string, value float64, r Range, usage string) {
	*p = value
	fs.Var(&floatValue{p: p, r: r}, name, fmt.Sprintf("%s (`float` %s)", usage, r.bounds()))
}

// Float is FloatVar returning the variable.
func Float(fs *flag.FlagSet, name string, value float64, r Range, usage string) *float64 {
	p := new(float64)
	FloatVar(fs, p, name, value, r, usage)
	return p
}

// Set returns the names of the flags given on the command line.
func Set(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}
