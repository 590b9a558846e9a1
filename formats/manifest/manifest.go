// Package manifest reads and writes manifest.json, the description of one
// dataset version: what it was built from, how, and the hash of every shard.
//
// The manifest is the only place a dataset version is described, so loading is
// strict (unknown fields and impossible values are errors): `prep verify`,
// `prep reproduce` and the trainer all trust what it says.
package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/shardsmith/shardsmith/formats/vocab"
)

// FileName is the manifest's name inside a version directory.
const FileName = "manifest.json"

// Manifest describes one dataset version.
type Manifest struct {
	Dataset string `json:"dataset"`
	// Version is the full hex SHA-256 content hash; directories use its first 12 digits.
	Version string `json:"version"`
	// Tool is the version of the program that wrote it.
	Tool string `json:"tool"`
	// Created is the only field that may differ between two builds of the
	// same version; it is not part of the hash.
	Created string `json:"created"`
	// Config is the resolved configuration the version was built from.
	Config json.RawMessage `json:"config"`
	// HashInput is the canonical document the version hash is taken over.
	HashInput json.RawMessage `json:"hash_input"`
	Sources   []Source        `json:"sources"`
	Image     Image           `json:"image"`
	Normalize Normalize       `json:"normalize"`
	Classes   []string        `json:"classes"`
	Splits    []Split         `json:"splits"`
	// Skipped lists the files of image tree and list sources that did not
	// decode and were left out (skip_bad).
	Skipped []Skipped `json:"skipped,omitempty"`
}

// Skipped is a source file left out of a version, and why.
type Skipped struct {
	Split  string `json:"split"`
	Path   string `json:"path"` // relative to the split's root, '/'-separated
	Reason string `json:"reason"`
}

// Source is one input file.
type Source struct {
	Name string `json:"name"`
	File string `json:"file"`
	// SHA256 is the digest of the file as fetched (IDX), or of the decoded
	// content of an image tree or list (see prep).
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
	// ContentSHA256 is the digest of an IDX source's bytes after gzip
	// decoding, which the version follows.
	ContentSHA256 string `json:"content_sha256,omitempty"`
	// Files is the number of image files of a tree or list source.
	Files int `json:"files,omitempty"`
}

// Image is the shape of one example.
type Image struct {
	Height   int    `json:"height"`
	Width    int    `json:"width"`
	Channels int    `json:"channels"`
	DType    string `json:"dtype"` // "float32" or "uint8"
}

// Normalize records the normalization that was applied (or, for mode
// vocab.NormalizeNone, that a reader should apply). Its methods (normalize.go) are the
// one implementation of the pixel mapping.
type Normalize struct {
	Mode vocab.NormalizeMode `json:"mode"`
	// Mean and Std hold one value per channel; see Values for the JSON
	// form (a number for one channel, an array otherwise).
	Mean Values `json:"mean"`
	Std  Values `json:"std"`
}

// Split is one of vocab.Splits.
type Split struct {
	Name vocab.Split `json:"name"`
	Rows int         `json:"rows"`
	// Labels[i] counts the rows with label i.
	Labels []int   `json:"labels"`
	Shards []Shard `json:"shards"`
}

// Shard is one file of a split.
type Shard struct {
	Path  string `json:"path"` // relative to the version directory
	Rows  int    `json:"rows"`
	Bytes int64  `json:"bytes"`
	// SHA256 is the hash of the file's bytes.
	SHA256 string `json:"sha256"`
	// DataSHA256 is the hash of the uncompressed column data: equal data
	// hashes with different file hashes mean "same rows, other compressor".
	DataSHA256 string `json:"data_sha256"`
}

// Split returns the split with the given name, or nil.
func (m *Manifest) Split(name vocab.Split) *Split {
	for i := range m.Splits {
		if m.Splits[i].Name == name {
			return &m.Splits[i]
		}
	}
	return nil
}

// ShortVersion is the version id as printed and used in directory names.
func (m *Manifest) ShortVersion() string { return Short(m.Version) }

// Short returns the first 12 hex digits of a version hash.
func Short(v string) string {
	if len(v) > 12 {
		return v[:12]
	}
	return v
}

// Marshal encodes m as indented JSON with a trailing newline.
func (m *Manifest) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Load reads and validates the manifest at path (a file or a version directory).
func Load(p string) (*Manifest, error) {
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		p = path.Join(p, FileName)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", p, err)
	}
	return m, nil
}

// Parse decodes and validates a manifest.
func Parse(data []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after the manifest object")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// jsonError adds the byte offset to a JSON decoding error.
func jsonError(data []byte, err error) error {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Errorf("offset %d: %v", e.Offset, e)
	case *json.UnmarshalTypeError:
		return fmt.Errorf("offset %d: field %s: expected %v, got JSON %s", e.Offset, e.Field, e.Type, e.Value)
	}
	if err == io.EOF {
		return fmt.Errorf("empty file, expected a JSON object")
	}
	if err == io.ErrUnexpectedEOF {
		return fmt.Errorf("offset %d: unexpected end of input (truncated file?)", len(data))
	}
	return err
}

var (
	hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// shardPath is a plain file name in the version directory: no separators,
	// no "..", so a manifest cannot point a reader outside its directory.
	shardPath = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(` + shardExts() + `)$`)
)

// shardExts is the alternation of the shard formats' extensions, \.arrow|\.parquet.
func shardExts() string {
	exts := make([]string, len(vocab.Formats))
	for i, f := range vocab.Formats {
		exts[i] = regexp.QuoteMeta(f.Ext())
	}
	return strings.Join(exts, "|")
}

// Validate checks that the manifest is internally consistent.
func (m *Manifest) Validate() error {
	if m.Dataset == "" {
		return fmt.Errorf("dataset is empty")
	}
	if !hex64.MatchString(m.Version) {
		return fmt.Errorf("version %q is not a 64-digit hex SHA-256", m.Version)
	}
	// at most 1<<24 elements, tested by division so that no product overflows
	const maxElems = 1 << 24
	if im := m.Image; im.Height < 1 || im.Width < 1 || im.Channels < 1 || im.Width > maxElems/im.Height || im.Channels > maxElems/(im.Height*im.Width) {
		return fmt.Errorf("image shape %dx%dx%d is not valid", m.Image.Height, m.Image.Width, m.Image.Channels)
	}
	if m.Image.DType != "float32" && m.Image.DType != "uint8" {
		return fmt.Errorf("image dtype %q, expected float32 or uint8", m.Image.DType)
	}
	if err := m.Normalize.ValidateFor(m.Image.Channels); err != nil {
		return err
	}
	if len(m.Classes) == 0 {
		return fmt.Errorf("no classes")
	}
	for _, s := range m.Sources {
		if !hex64.MatchString(s.SHA256) {
			return fmt.Errorf("source %s: sha256 %q is not 64 hex digits", s.Name, s.SHA256)
		}
	}
	seen := map[string]bool{}
	for _, sp := range m.Splits {
		if !sp.Name.Valid() {
			return fmt.Errorf("unknown split %q", sp.Name)
		}
		if seen[string(sp.Name)] {
			return fmt.Errorf("split %s listed twice", sp.Name)
		}
		seen[string(sp.Name)] = true
		if len(sp.Labels) != len(m.Classes) {
			return fmt.Errorf("split %s: label histogram has %d entries for %d classes", sp.Name, len(sp.Labels), len(m.Classes))
		}
		total, hist := 0, 0
		for _, c := range sp.Labels {
			if c < 0 {
				return fmt.Errorf("split %s: negative label count", sp.Name)
			}
			if c > math.MaxInt-hist {
				return fmt.Errorf("split %s: label counts add up past the largest int", sp.Name)
			}
			hist += c
		}
		for _, sh := range sp.Shards {
			if !shardPath.MatchString(sh.Path) || strings.Contains(sh.Path, "..") {
				return fmt.Errorf("split %s: shard path %q is not a plain file name", sp.Name, sh.Path)
			}
			if seen["file:"+sh.Path] {
				return fmt.Errorf("shard %s listed twice", sh.Path)
			}
			seen["file:"+sh.Path] = true
			if sh.Rows < 0 || sh.Bytes < 0 {
				return fmt.Errorf("shard %s: negative rows or bytes", sh.Path)
			}
			if !hex64.MatchString(sh.SHA256) || !hex64.MatchString(sh.DataSHA256) {
				return fmt.Errorf("shard %s: sha256/data_sha256 must be 64 hex digits", sh.Path)
			}
			if sh.Rows > math.MaxInt-total {
				return fmt.Errorf("split %s: shard rows add up past the largest int", sp.Name)
			}
			total += sh.Rows
		}
		if total != sp.Rows || hist != sp.Rows {
			return fmt.Errorf("split %s: rows %d, but shards hold %d and the label histogram counts %d", sp.Name, sp.Rows, total, hist)
		}
	}
	return nil
}
