package cli

import (
	"bytes"
	"flag"
	"strconv"
	"strings"
	"testing"
)

func parseOne(t *testing.T, fs *flag.FlagSet, arg string) (error, string) {
	t.Helper()
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	return Parse(fs, []string{arg}), buf.String()
}

func TestIntVarRange(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		ok   bool
		want int
	}{
		{"-n=1", true, 1}, {"-n=10", true, 10}, {"-n=0", false, 0}, {"-n=11", false, 0},
		{"-n=-1", false, 0}, {"-n=1.5", false, 0}, {"-n=NaN", false, 0}, {"-n=1e308", false, 0},
		{"-n=9223372036854775808", false, 0}, {"-n=", false, 0}, {"-n=x", false, 0},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		p := Int(fs, "n", 5, 1, 10, "count")
		err, msg := parseOne(t, fs, tc.arg)
		if tc.ok != (err == nil) {
			t.Errorf("%s: err %v, want ok=%v", tc.arg, err, tc.ok)
			continue
		}
		if tc.ok && *p != tc.want {
			t.Errorf("%s: got %d", tc.arg, *p)
		}
		if !tc.ok {
			if err != ErrUsage {
				t.Errorf("%s: err %v, want ErrUsage", tc.arg, err)
			}
			val := strings.TrimPrefix(tc.arg, "-n=")
			if !strings.Contains(msg, `invalid value "`+val+`" for flag -n: want an integer from 1 to 10`) {
				t.Errorf("%s: message %q does not name the flag, value and range", tc.arg, msg)
			}
		}
	}
}

func TestFloatVarRange(t *testing.T) {
	for _, tc := range []struct {
		r    Range
		arg  string
		ok   bool
		want string
	}{
		{Positive, "1e-3", true, ""}, {Positive, "0", false, "a finite number > 0"},
		{Positive, "NaN", false, "> 0"}, {Positive, "Inf", false, "> 0"}, {Positive, "-Inf", false, "> 0"},
		{Positive, "1e400", false, "> 0"}, {Positive, "1e308", true, ""},
		{NonNegative, "0", true, ""}, {NonNegative, "-1", false, "a finite number ≥ 0"},
		{Fraction, "0.9", true, ""}, {Fraction, "1", false, "≥ 0 and < 1"}, {Fraction, "garbage", false, "< 1"},
		{Fraction, "", false, "< 1"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		p := Float(fs, "x", 0.5, tc.r, "value")
		err, msg := parseOne(t, fs, "-x="+tc.arg)
		if tc.ok != (err == nil) {
			t.Errorf("%v %q: err %v, want ok=%v", tc.r, tc.arg, err, tc.ok)
			continue
		}
		if want, _ := strconv.ParseFloat(tc.arg, 64); tc.ok && *p != want {
			t.Errorf("%q: parsed as %v", tc.arg, *p)
		}
		if !tc.ok && (!strings.Contains(msg, `invalid value "`+tc.arg+`" for flag -x`) || !strings.Contains(msg, tc.want)) {
			t.Errorf("%v %q: message %q, want the flag, the value and %q", tc.r, tc.arg, msg, tc.want)
		}
	}
}

func TestSetNamesTheFlagsGiven(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	Int(fs, "a", 1, 0, 9, "a")
	Int(fs, "b", 1, 0, 9, "b")
	if err := Parse(fs, []string{"-a=1"}); err != nil {
		t.Fatal(err)
	}
	if set := Set(fs); !set["a"] || set["b"] {
		t.Errorf("Set = %v, want only a (given, even at its default)", set)
	}
}

// PrintDefaults builds zero values of the flag types; they must not panic
// and the defaults must show.
func TestHelpShowsRangesAndDefaults(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	Int(fs, "epochs", 3, 1, 100, "epochs to train")
	Float(fs, "lr", 1e-3, Positive, "learning rate")
	fs.PrintDefaults()
	for _, want := range []string{"-epochs int", "(int 1 to 100) (default 3)", "-lr float", "(float > 0) (default 0.001)"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestBarOffTheTerminal(t *testing.T) {
	var buf bytes.Buffer
	b := NewBar(&buf, false, 0)
	b.Draw(true, "epoch %d", 1)
	b.Clear()
	if b.On() || buf.Len() != 0 {
		t.Errorf("a bar on a buffer drew %q", buf.String())
	}
	b = &Bar{w: &buf, on: true}
	b.Draw(false, "a %d", 1)
	b.Draw(false, "b %d", 2)
	b.Clear()
	if got := buf.String(); got != "\ra 1\rb 2\r\033[K" {
		t.Errorf("bar wrote %q", got)
	}
	if g := Gauge(4, 0.5); g != "==  " {
		t.Errorf("Gauge(4, 0.5) = %q", g)
	}
	if g := Gauge(4, 2); g != "====" {
		t.Errorf("Gauge(4, 2) = %q", g)
	}
}
