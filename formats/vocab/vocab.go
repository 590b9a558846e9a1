// Package vocab is the typed vocabulary of a dataset version: the
// normalization modes, shard compressions, shard formats and split names that
// configs, manifests, shard metadata and command-line flags spell as strings.
//
// It is the lowest layer of formats: it imports nothing of the module, so
// formats/manifest, formats/shard (which builds on manifest's per-channel
// values) and everything above them share one definition of each word. Every type is a
// string type whose value is the word itself, so JSON, YAML and Arrow
// metadata carry exactly the strings they always did: manifests, configs,
// version hashes and shard bytes do not change with the types.
//
// Decoding does not validate (a string type unmarshals any string); the
// loader of each document checks its fields with Valid or a Parse function
// and words the error for its own file, so strict loading keeps saying where
// a bad value is.
package vocab

import (
	"fmt"
	"slices"
	"strings"
)

// NormalizeMode says how pixels are stored in a version's shards.
type NormalizeMode string

const (
	// NormalizeCompute stores float32 pixels normalized with the mean/std of
	// the train split.
	NormalizeCompute NormalizeMode = "compute"
	// NormalizeFixed stores float32 pixels normalized with a given mean/std.
	NormalizeFixed NormalizeMode = "fixed"
	// NormalizeNone keeps uint8 pixels; a reader applies the train
	// statistics recorded beside them.
	NormalizeNone NormalizeMode = "none"
)

// NormalizeModes are the accepted modes, the default first.
var NormalizeModes = []NormalizeMode{NormalizeCompute, NormalizeFixed, NormalizeNone}

// ParseNormalizeMode returns the mode named s, or an error listing the modes.
func ParseNormalizeMode(s string) (NormalizeMode, error) {
	return parse("normalize mode", s, NormalizeModes)
}

func (m NormalizeMode) String() string { return string(m) }

// Valid reports whether m is one of NormalizeModes.
func (m NormalizeMode) Valid() bool { return slices.Contains(NormalizeModes, m) }

// Float reports whether shards of this mode hold normalized float32 pixels
// (every mode but NormalizeNone).
func (m NormalizeMode) Float() bool { return m != NormalizeNone }

// Compression is the codec of a shard's column data.
type Compression string

const (
	CompressionZstd Compression = "zstd"
	// CompressionLZ4 is the LZ4 frame codec in Arrow IPC, LZ4_RAW in Parquet.
	CompressionLZ4  Compression = "lz4"
	CompressionNone Compression = "none"
)

// Compressions are the accepted compressions, the default first.
var Compressions = []Compression{CompressionZstd, CompressionLZ4, CompressionNone}

// ParseCompression returns the compression named s, or an error listing them.
func ParseCompression(s string) (Compression, error) {
	return parse("compression", s, Compressions)
}

func (c Compression) String() string { return string(c) }

// Valid reports whether c is one of Compressions.
func (c Compression) Valid() bool { return slices.Contains(Compressions, c) }

// Format is the file format of a version's shards.
type Format string

const (
	// FormatArrow is the Arrow IPC file format.
	FormatArrow   Format = "arrow"
	FormatParquet Format = "parquet"
)

// Formats are the accepted shard formats, the default first.
var Formats = []Format{FormatArrow, FormatParquet}

// ParseFormat returns the format named s, or an error listing the formats.
func ParseFormat(s string) (Format, error) {
	return parse("shard format", s, Formats)
}

func (f Format) String() string { return string(f) }

// Valid reports whether f is one of Formats.
func (f Format) Valid() bool { return slices.Contains(Formats, f) }

// Ext is the file extension of shards in format f, with the dot: ".parquet"
// for FormatParquet, ".arrow" for anything else (Arrow IPC is the default).
func (f Format) Ext() string {
	if f == FormatParquet {
		return ".parquet"
	}
	return ".arrow"
}

// Split is the name of one split of a version.
type Split string

const (
	Train Split = "train"
	Val   Split = "val"
	Test  Split = "test"
)

// Split ids: a split's index in Splits, the order splits are listed in a
// manifest. Stages that route rows by split use the ids.
const (
	TrainID uint8 = iota
	ValID
	TestID
)

// Splits maps split ids to names; it is the list of every split.
var Splits = [...]Split{TrainID: Train, ValID: Val, TestID: Test}

// ParseSplit returns the split named s, or an error listing the splits.
func ParseSplit(s string) (Split, error) {
	return parse("split", s, Splits[:])
}

func (s Split) String() string { return string(s) }

// Set parses a flag's value with ParseSplit, so that *Split is a flag.Value
// and a mistyped --split is refused with the accepted names.
func (s *Split) Set(v string) error {
	p, err := ParseSplit(v)
	if err != nil {
		return err
	}
	*s = p
	return nil
}

// Valid reports whether s is one of Splits.
func (s Split) Valid() bool { _, ok := s.ID(); return ok }

// ID returns the id of s (its index in Splits), and false if s is no split.
func (s Split) ID() (uint8, bool) {
	i := slices.Index(Splits[:], s)
	return uint8(i), i >= 0
}

// OrList spells words as "a, b or c", the way error messages list the
// accepted values.
func OrList[T ~string](words []T) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return string(words[0])
	}
	s := make([]string, len(words)-1)
	for i, w := range words[:len(words)-1] {
		s[i] = string(w)
	}
	return strings.Join(s, ", ") + " or " + string(words[len(words)-1])
}

func parse[T ~string](what, s string, words []T) (T, error) {
	if i := slices.Index(words, T(s)); i >= 0 {
		return words[i], nil
	}
	return "", fmt.Errorf("unknown %s %q, want %s", what, s, OrList(words))
}
