package vocab

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestParse(t *testing.T) {
	check := func(t *testing.T, got fmt.Stringer, err error, want string) {
		t.Helper()
		if err != nil || got.String() != want {
			t.Fatalf("parse %q: %v, %v", want, got, err)
		}
	}
	for _, m := range []string{"compute", "fixed", "none"} {
		got, err := ParseNormalizeMode(m)
		check(t, got, err, m)
		if !got.Valid() {
			t.Fatalf("%q is not Valid", got)
		}
	}
	for _, c := range []string{"zstd", "lz4", "none"} {
		got, err := ParseCompression(c)
		check(t, got, err, c)
	}
	for _, f := range []string{"arrow", "parquet"} {
		got, err := ParseFormat(f)
		check(t, got, err, f)
	}
	for id, s := range []string{"train", "val", "test"} {
		got, err := ParseSplit(s)
		check(t, got, err, s)
		if gotID, ok := got.ID(); !ok || int(gotID) != id || Splits[id] != got {
			t.Fatalf("split %q: id %d %v, want %d", s, gotID, ok, id)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{second(ParseNormalizeMode("Compute")), `unknown normalize mode "Compute", want compute, fixed or none`},
		{second(ParseNormalizeMode("")), `unknown normalize mode "", want compute, fixed or none`},
		{second(ParseCompression("gzip")), `unknown compression "gzip", want zstd, lz4 or none`},
		{second(ParseFormat("csv")), `unknown shard format "csv", want arrow or parquet`},
		{second(ParseSplit("validation")), `unknown split "validation", want train, val or test`},
	} {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("error %v, want %s", tc.err, tc.want)
		}
	}
	if NormalizeMode("x").Valid() || Compression("").Valid() || Format("ARROW").Valid() || Split("dev").Valid() {
		t.Fatal("an unknown word is Valid")
	}
	if id, ok := Split("dev").ID(); ok {
		t.Fatalf("Split(dev).ID() = %d, true", id)
	}
}

// TestSplitFlag: *Split is a flag.Value that refuses an unknown name.
func TestSplitFlag(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s := Test
	fs.Var(&s, "split", "split")
	if err := fs.Parse([]string{"--split", "val"}); err != nil || s != Val {
		t.Fatalf("--split val: %q, %v", s, err)
	}
	err := fs.Parse([]string{"--split", "dev"})
	if want := `invalid value "dev" for flag -split: unknown split "dev", want train, val or test`; err == nil || err.Error() != want {
		t.Fatalf("--split dev: %v, want %s", err, want)
	}
	if s != Val {
		t.Fatalf("a refused value changed the flag to %q", s)
	}
}

func second[T any](_ T, err error) error { return err }

func TestMethods(t *testing.T) {
	if NormalizeNone.Float() || !NormalizeCompute.Float() || !NormalizeFixed.Float() {
		t.Fatal("Float: only none keeps uint8 pixels")
	}
	if FormatArrow.Ext() != ".arrow" || FormatParquet.Ext() != ".parquet" || Format("").Ext() != ".arrow" {
		t.Fatal("Ext")
	}
	if NormalizeModes[0] != NormalizeCompute || Compressions[0] != CompressionZstd || Formats[0] != FormatArrow {
		t.Fatal("the defaults are not listed first")
	}
	for _, tc := range []struct{ got, want string }{
		{OrList([]string{}), ""},
		{OrList([]string{"a"}), "a"},
		{OrList([]string{"a", "b"}), "a or b"},
		{OrList(Splits[:]), "train, val or test"},
	} {
		if tc.got != tc.want {
			t.Errorf("OrList: %q, want %q", tc.got, tc.want)
		}
	}
}

// doc holds each type as a config or manifest does.
type doc struct {
	Mode        NormalizeMode `json:"mode" yaml:"mode"`
	Compression Compression   `json:"compression" yaml:"compression"`
	Format      Format        `json:"format" yaml:"format"`
	Splits      []Split       `json:"splits" yaml:"splits"`
}

// TestRoundTrip pins that the types encode as the bare words, so manifests,
// configs and the version hashes taken over them keep their bytes.
func TestRoundTrip(t *testing.T) {
	d := doc{NormalizeNone, CompressionLZ4, FormatParquet, []Split{Train, Val, Test}}
	j, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"mode":"none","compression":"lz4","format":"parquet","splits":["train","val","test"]}`; string(j) != want {
		t.Fatalf("JSON %s, want %s", j, want)
	}
	var back doc
	if err := json.Unmarshal(j, &back); err != nil || fmt.Sprint(back) != fmt.Sprint(d) {
		t.Fatalf("JSON round trip %+v, %v", back, err)
	}
	y, err := yaml.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if want := "mode: none\ncompression: lz4\nformat: parquet\nsplits:\n    - train\n    - val\n    - test\n"; string(y) != want {
		t.Fatalf("YAML %q, want %q", y, want)
	}
	back = doc{}
	if err := yaml.Unmarshal(y, &back); err != nil || fmt.Sprint(back) != fmt.Sprint(d) {
		t.Fatalf("YAML round trip %+v, %v", back, err)
	}
	// Decoding keeps an unknown word for the loader to reject with its
	// own message (file, line).
	back = doc{}
	if err := yaml.Unmarshal([]byte("mode: bogus\n"), &back); err != nil || back.Mode.Valid() || back.Mode != "bogus" {
		t.Fatalf("decoding an unknown mode: %+v, %v", back, err)
	}
}
