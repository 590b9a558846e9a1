// Package config loads and validates a prep configuration file (YAML).
//
// Decoding is strict: an unknown key, a value of the wrong type or an invalid
// setting is an error that names the file and the line, because a typo that
// is silently ignored would produce a dataset the user did not ask for — and
// give it a version id that looks perfectly valid.
//
// The package also splits the configuration into the part that determines the
// bytes of a dataset (Hashed) and the part that does not (output directory,
// cache, worker count, mirror list), so the dataset version depends on
// exactly the former.
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"go.yaml.in/yaml/v3"
)

// Config is a resolved prep configuration.
type Config struct {
	// Dataset names the dataset; it is the first path component under the
	// output root (out/<dataset>/<version>).
	Dataset string `yaml:"dataset" json:"dataset"`
	// Classes names the label values 0..len-1. Defaults to "0".."9" for
	// IDX sources; for image trees and lists, to the sorted class folder
	// names or label strings (filled in by prep once the files are listed).
	Classes []string `yaml:"classes,omitempty" json:"classes"`
	// Mirrors are URL prefixes tried in order for every source that lists no
	// URLs of its own: https://, http://, file://, a local directory, or
	// gomod://MODULE@VERSION/dir/.
	Mirrors []string `yaml:"mirrors,omitempty" json:"mirrors,omitempty"`
	// Sources are the raw files: train/test images and labels.
	Sources Sources `yaml:"sources" json:"sources"`
	// Image is the shape every image of a tree or list source is converted
	// to; IDX sources carry their shape in their headers and take none.
	Image *Image `yaml:"image,omitempty" json:"image,omitempty"`

	Normalize Normalize `yaml:"normalize" json:"normalize"`
	Split     Split     `yaml:"split" json:"split"`
	Augment   Augment   `yaml:"augment" json:"augment"`
	Shards    Shards    `yaml:"shards" json:"shards"`

	// Out is the output root (default "out"). Not hashed.
	Out string `yaml:"out,omitempty" json:"out,omitempty"`
	// Cache is the download cache directory (default: the user cache dir). Not hashed.
	Cache string `yaml:"cache,omitempty" json:"cache,omitempty"`
	// Workers bounds the parallel stages (default GOMAXPROCS). Not hashed.
	Workers int `yaml:"workers,omitempty" json:"workers,omitempty"`

	lines map[string]int // yaml path -> line, for error messages
	file  string
}

// Sources lists the inputs: either the four IDX files of an MNIST-style
// dataset, or one image tree or list per split (Train, and optionally Test).
type Sources struct {
	TrainImages File `yaml:"train_images,omitempty" json:"train_images"`
	TrainLabels File `yaml:"train_labels,omitempty" json:"train_labels"`
	TestImages  File `yaml:"test_images,omitempty" json:"test_images"`
	TestLabels  File `yaml:"test_labels,omitempty" json:"test_labels"`

	Train *SplitSource `yaml:"train,omitempty" json:"train,omitempty"`
	Test  *SplitSource `yaml:"test,omitempty" json:"test,omitempty"`
}

// IDX reports whether the sources are the four IDX files (rather than
// image trees or lists).
func (s *Sources) IDX() bool { return s.Train == nil && s.Test == nil }

// SplitSource is the images of one split: a folder tree
// (ImageFolder/<class>/**/<file>) or a CSV list (columns path,label) whose
// paths are relative to Root. Paths are resolved against the config file's
// directory when the config is loaded.
//
// With Archive set, the tree or list is inside an archive (tar, tar.gz or
// zip) fetched like an IDX file — Archive joined to each mirror, or URLs —
// and pinned by SHA256; ImageFolder, CSV and Root then name members of the
// archive ('/'-separated, from its top; "." is the top itself).
type SplitSource struct {
	Archive string `yaml:"archive,omitempty" json:"archive,omitempty"`
	// SHA256 is the expected hex digest of the archive as fetched.
	SHA256 string `yaml:"sha256,omitempty" json:"sha256,omitempty"`
	// URLs, when set, replace the mirrors for the archive.
	URLs []string `yaml:"urls,omitempty" json:"urls,omitempty"`

	ImageFolder string `yaml:"imagefolder,omitempty" json:"imagefolder,omitempty"`
	CSV         string `yaml:"csv,omitempty" json:"csv,omitempty"`
	// CIFAR lists files in CIFAR-10's binary format (data_batch_1.bin, …),
	// relative to Root, read in the order given.
	CIFAR []string `yaml:"cifar,omitempty" json:"cifar,omitempty"`
	Root  string   `yaml:"root,omitempty" json:"root,omitempty"`
	// SkipBad skips files that do not decode (listing each in the manifest
	// and on stderr) instead of failing the build.
	SkipBad bool `yaml:"skip_bad,omitempty" json:"skip_bad,omitempty"`
}

// Image is the shape images are converted to.
type Image struct {
	Height   int `yaml:"height" json:"height"`
	Width    int `yaml:"width" json:"width"`
	Channels int `yaml:"channels" json:"channels"`
	// Resize is how an image of another size is brought to Height×Width:
	// fit (scale to fit inside, pad with black; the default) or fill (scale
	// to cover, crop the centre).
	Resize string `yaml:"resize,omitempty" json:"resize,omitempty"`
}

// Resize methods.
const (
	ResizeFit  = "fit"
	ResizeFill = "fill"
)

// MaxImageSide bounds image.height and image.width.
const MaxImageSide = 4096

// All returns the sources in their canonical order with their config keys.
func (s *Sources) All() []NamedFile {
	return []NamedFile{
		{"train_images", &s.TrainImages},
		{"train_labels", &s.TrainLabels},
		{"test_images", &s.TestImages},
		{"test_labels", &s.TestLabels},
	}
}

// NamedFile is a source file with its config key.
type NamedFile struct {
	Key  string
	File *File
}

// ArchiveFile is the archive of a split source as a File, for URLs.
func (s *SplitSource) ArchiveFile() *File {
	return &File{File: s.Archive, SHA256: s.SHA256, URLs: s.URLs}
}

// File is one source file.
type File struct {
	// File is the file name, appended to each mirror.
	File string `yaml:"file" json:"file"`
	// SHA256 is the expected hex digest of the file as downloaded.
	SHA256 string `yaml:"sha256,omitempty" json:"sha256"`
	// ContentSHA256 is the expected hex digest of the file's content: its
	// bytes after gzip decoding. A mirror whose copy fails SHA256 (another
	// gzip encoder, or a raw file) is accepted when its content verifies;
	// such a copy must be local (a directory or file:// mirror), where it
	// can be checked before it is used. At least one of the two is given.
	ContentSHA256 string `yaml:"content_sha256,omitempty" json:"content_sha256,omitempty"`
	// URLs, when set, replace the mirrors for this file.
	URLs []string `yaml:"urls,omitempty" json:"urls,omitempty"`
}

// Normalize says how pixels are stored.
type Normalize struct {
	// Mode is compute (mean/std of the train split), fixed (Mean/Std
	// given) or none (keep uint8 pixels).
	Mode vocab.NormalizeMode `yaml:"mode" json:"mode"`
	// Mean and Std (mode fixed) are a number, which applies to every
	// channel, or a list of one number per channel. A mean left out is 0.
	// A single value encodes exactly as the float64 it once was (and a 0
	// is left out), so single-channel configs hash as before.
	Mean manifest.Values `yaml:"mean,omitempty" json:"mean,omitzero"`
	Std  manifest.Values `yaml:"std,omitempty" json:"std,omitzero"`
}

// Split says how the validation split is carved from the train file.
type Split struct {
	Seed uint64 `yaml:"seed" json:"seed"`
	// ValFraction of the train file goes to val (0 ≤ f < 1) …
	ValFraction float64 `yaml:"val_fraction,omitempty" json:"val_fraction,omitempty"`
	// … or exactly ValCount images (not both).
	ValCount int `yaml:"val_count,omitempty" json:"val_count,omitempty"`
	// Stratify keeps the label proportions of val equal to those of train.
	Stratify bool `yaml:"stratify" json:"stratify"`
	// Labels keeps only images with these labels (in every split).
	Labels []int `yaml:"labels,omitempty" json:"labels,omitempty"`
	// Remap relabels the kept labels to 0..len(Labels)-1 in the order
	// listed; class names follow, and the mapping is recorded in the metadata.
	Remap bool `yaml:"remap,omitempty" json:"remap,omitempty"`
	// PerClass keeps k train images per class, chosen by Seed (few-shot).
	PerClass int `yaml:"per_class,omitempty" json:"per_class,omitempty"`
	// AllowEmpty names the splits that may hold no image. Any other split
	// that a filter, per_class or a source leaves empty fails the build,
	// since a trainer cannot use it. An unrequested val (val_fraction and
	// val_count both 0) is empty on purpose and needs no entry. It changes
	// no byte of a version, so it is not hashed.
	AllowEmpty []vocab.Split `yaml:"allow_empty,omitempty" json:"allow_empty,omitempty"`
}

// OutputClasses are the class names of the shards: the kept classes in
// Labels order when remapping, else all classes.
func (c *Config) OutputClasses() []string {
	if !c.Split.Remap {
		return c.Classes
	}
	out := make([]string, len(c.Split.Labels))
	for i, l := range c.Split.Labels {
		out[i] = c.Classes[l]
	}
	return out
}

// Augment configures the augment stage.
type Augment struct {
	Splits []vocab.Split `yaml:"splits,omitempty" json:"splits,omitempty"`
	Copies int           `yaml:"copies,omitempty" json:"copies,omitempty"`
	Seed   uint64        `yaml:"seed,omitempty" json:"seed,omitempty"`
	Ops    []AugmentOp   `yaml:"ops,omitempty" json:"ops,omitempty"`
}

// AugmentOp is one augmentation: `- rotate: {degrees: 12, p: 0.5}`.
type AugmentOp struct {
	Op     string             `json:"op"`
	Params map[string]float64 `json:"params,omitempty"`
	Line   int                `json:"-"`
}

// UnmarshalYAML reads the one-key mapping form of an op.
func (o *AugmentOp) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return fmt.Errorf("line %d: an augment op is a one-key mapping such as `- rotate: {degrees: 10}`", n.Line)
	}
	o.Line = n.Line
	o.Op = n.Content[0].Value
	o.Params = map[string]float64{}
	params := n.Content[1]
	if params.Kind == yaml.ScalarNode && (params.Tag == "!!null" || params.Value == "") {
		return nil
	}
	if err := params.Decode(&o.Params); err != nil {
		return fmt.Errorf("line %d: %s: parameters must be numbers: %v", params.Line, o.Op, err)
	}
	return nil
}

// MarshalYAML writes the one-key mapping form back.
func (o AugmentOp) MarshalYAML() (any, error) {
	return map[string]map[string]float64{o.Op: o.Params}, nil
}

// Shards configures the shard writer.
type Shards struct {
	// Rows per shard (default 10000).
	Rows int `yaml:"rows,omitempty" json:"rows"`
	// MaxBytes caps the uncompressed bytes of a shard (0 = no cap).
	MaxBytes int64 `yaml:"max_bytes,omitempty" json:"max_bytes,omitempty"`
	// BatchRows is the Arrow record-batch length inside a shard (default 1024).
	BatchRows int `yaml:"batch_rows,omitempty" json:"batch_rows"`
	// Compression of the column data: zstd (default), lz4 or none.
	Compression vocab.Compression `yaml:"compression,omitempty" json:"compression"`
	// Format is arrow (Arrow IPC file, default) or parquet.
	Format vocab.Format `yaml:"format,omitempty" json:"format,omitempty"`
}

// Error is a configuration error; it names the file and, when known, the line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("config %s: line %d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("config %s: %s", e.File, e.Msg)
}

// Load reads, decodes and validates a configuration file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

var yamlLine = regexp.MustCompile(`line (\d+): `)

// Parse decodes and validates a configuration; name is used in errors.
func Parse(data []byte, name string) (*Config, error) {
	c := &Config{file: name}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{File: name, Msg: "file is empty"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, yamlError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		line := extra.Line
		return nil, &Error{File: name, Line: line, Msg: "a second YAML document (after ---): a config is one document"}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(name, err)
	}
	c.lines = map[string]int{}
	indexLines(&root, "", c.lines)
	c.file = name
	if err := c.resolvePaths(filepath.Dir(name)); err != nil {
		return nil, err
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// resolvePaths makes the paths of tree and list sources absolute, relative
// ones against dir (the config file's directory), so a config means the same
// files from whatever directory prep runs in — and a manifest's embedded
// config names them unambiguously.
func (c *Config) resolvePaths(dir string) error {
	for _, s := range []*SplitSource{c.Sources.Train, c.Sources.Test} {
		if s == nil || s.Archive != "" { // members of an archive are not file system paths
			continue
		}
		for _, p := range []*string{&s.ImageFolder, &s.CSV, &s.Root} {
			if *p == "" {
				continue
			}
			if !filepath.IsAbs(*p) {
				*p = filepath.Join(dir, *p)
			}
			abs, err := filepath.Abs(*p)
			if err != nil {
				return &Error{File: c.file, Msg: fmt.Sprintf("sources: %s: %v", *p, err)}
			}
			*p = abs
		}
	}
	return nil
}

// yamlError turns a yaml error into an *Error carrying the first line it names.
func yamlError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &line)
		msg = strings.Replace(msg, m[0], "", 1)
	}
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	msg = strings.ReplaceAll(msg, "config.", "")
	return &Error{File: name, Line: line, Msg: msg}
}

// indexLines records the line of every mapping key under its dotted path.
func indexLines(n *yaml.Node, path string, out map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			indexLines(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			out[p] = n.Content[i].Line
			indexLines(n.Content[i+1], p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			out[p] = c.Line
			indexLines(c, p, out)
		}
	}
}

// errAt builds an *Error at the line of the dotted path (or its nearest parent).
func (c *Config) errAt(path, format string, args ...any) error {
	line := 0
	for p := path; p != ""; {
		if l, ok := c.lines[p]; ok {
			line = l
			break
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return &Error{File: c.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// File returns the name the configuration was loaded from.
func (c *Config) File() string { return c.file }

func (c *Config) applyDefaults() {
	if c.Image != nil && c.Image.Resize == "" {
		c.Image.Resize = ResizeFit
	}
	if c.Classes == nil && c.Sources.IDX() {
		c.Classes = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	}
	if c.Normalize.Mode == "" {
		c.Normalize.Mode = vocab.NormalizeModes[0]
	}
	if c.Shards.Rows == 0 {
		c.Shards.Rows = 10000
	}
	if c.Shards.BatchRows == 0 {
		c.Shards.BatchRows = 1024
	}
	if c.Shards.Compression == "" {
		c.Shards.Compression = vocab.Compressions[0]
	}
	if c.Shards.Format == "" {
		c.Shards.Format = vocab.Formats[0]
	}
	if c.Augment.Copies > 0 && c.Augment.Splits == nil {
		c.Augment.Splits = []vocab.Split{vocab.Train}
	}
	if c.Out == "" {
		c.Out = "out"
	}
}

var (
	datasetName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	hexSHA256   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Validate checks every setting; the first problem is returned with its line.
func (c *Config) Validate() error {
	if !datasetName.MatchString(c.Dataset) {
		return c.errAt("dataset", "dataset must be a name of letters, digits, '.', '_' or '-', got %q", c.Dataset)
	}
	if c.Sources.IDX() || c.Classes != nil {
		if len(c.Classes) == 0 || len(c.Classes) > 256 {
			return c.errAt("classes", "classes must list 1 to 256 names, got %d", len(c.Classes))
		}
		seen := map[string]bool{}
		for i, name := range c.Classes {
			if seen[name] {
				return c.errAt(fmt.Sprintf("classes[%d]", i), "classes: %q is listed twice", name)
			}
			seen[name] = true
		}
	}
	if err := c.validateSources(); err != nil {
		return err
	}
	return c.validateRest()
}

// validateTrees checks the tree and list form of the sources and the image
// shape it needs.
func (c *Config) validateTrees() error {
	for _, k := range c.Sources.All() {
		if k.File.File != "" || k.File.SHA256 != "" || len(k.File.URLs) > 0 {
			return c.errAt("sources."+k.Key, "sources: %s is an IDX source; it cannot be mixed with the per-split train/test form", k.Key)
		}
	}
	if c.Sources.Train == nil {
		return c.errAt("sources", "sources: train is missing (test is optional; val is carved from train)")
	}
	for _, sp := range []struct {
		key string
		s   *SplitSource
	}{{"sources.train", c.Sources.Train}, {"sources.test", c.Sources.Test}} {
		s := sp.s
		if s == nil {
			continue
		}
		forms := 0
		for _, set := range []bool{s.ImageFolder != "", s.CSV != "", len(s.CIFAR) > 0} {
			if set {
				forms++
			}
		}
		switch {
		case forms > 1 || s.ImageFolder != "" && s.Root != "":
			return c.errAt(sp.key, "%s: give one of imagefolder, csv with root, or cifar with root, not both", sp.key)
		case forms == 0:
			return c.errAt(sp.key, "%s: needs imagefolder (a directory of class folders), csv (a list of path,label rows) with root, or cifar (CIFAR-10 binary files) with root", sp.key)
		case s.CSV != "" && s.Root == "":
			return c.errAt(sp.key, "%s: csv needs root, the directory its paths are relative to", sp.key)
		case len(s.CIFAR) > 0 && s.Root == "":
			return c.errAt(sp.key+".cifar", "%s: cifar needs root, the directory its files are in", sp.key)
		case len(s.CIFAR) > 0 && c.Classes == nil:
			return c.errAt(sp.key+".cifar", "%s: CIFAR files hold label ids only: list the class names in classes", sp.key)
		}
		for i, f := range s.CIFAR {
			if f == "" || strings.HasPrefix(f, "/") || strings.Contains(f, `\`) || slices.Contains(strings.Split(f, "/"), "..") {
				return c.errAt(fmt.Sprintf("%s.cifar[%d]", sp.key, i), "%s.cifar: %q must be relative to root, '/'-separated, without ..", sp.key, f)
			}
		}
		if err := c.validateArchive(sp.key, s); err != nil {
			return err
		}
	}
	if c.Image == nil {
		return c.errAt("sources", "image: {height, width, channels} is required with image trees and lists: every image is converted to it")
	}
	im := c.Image
	if im.Height < 1 || im.Height > MaxImageSide || im.Width < 1 || im.Width > MaxImageSide {
		return c.errAt("image", "image: height and width must be in [1, %d], got %dx%d", MaxImageSide, im.Height, im.Width)
	}
	if im.Channels != 1 && im.Channels != 3 {
		return c.errAt("image.channels", "image.channels must be 1 (gray) or 3 (RGB), got %d", im.Channels)
	}
	if im.Resize != ResizeFit && im.Resize != ResizeFill {
		return c.errAt("image.resize", "image.resize must be %s or %s, got %q", ResizeFit, ResizeFill, im.Resize)
	}
	return nil
}

// validateArchive checks the archive fields of a split source: an archive
// needs its sha256 and somewhere to fetch it from, and its member names must
// stay inside it; without an archive, sha256 and urls have nothing to pin.
func (c *Config) validateArchive(key string, s *SplitSource) error {
	if s.Archive == "" {
		if s.SHA256 != "" || len(s.URLs) > 0 {
			return c.errAt(key, "%s: sha256 and urls pin and locate an archive; give archive too, or drop them (a tree on disk is pinned by its content)", key)
		}
		return nil
	}
	if !hexSHA256.MatchString(s.SHA256) {
		return c.errAt(key+".sha256", "%s: an archive needs sha256, 64 lower-case hex digits of the file as fetched, got %q", key, s.SHA256)
	}
	if len(s.URLs) == 0 && len(c.Mirrors) == 0 {
		return c.errAt(key, "%s: no urls and no mirrors: nowhere to fetch %s from", key, s.Archive)
	}
	for _, m := range []struct{ field, name string }{{"imagefolder", s.ImageFolder}, {"csv", s.CSV}, {"root", s.Root}} {
		n := m.name
		if n == "" {
			continue
		}
		if strings.HasPrefix(n, "/") || strings.Contains(n, `\`) || slices.Contains(strings.Split(n, "/"), "..") {
			return c.errAt(key+"."+m.field, "%s.%s: %q names a member of the archive: '/'-separated from its top, without .. (\".\" is the top)", key, m.field, n)
		}
	}
	return nil
}

// validateSources checks whichever form the sources take.
func (c *Config) validateSources() error {
	if !c.Sources.IDX() {
		return c.validateTrees()
	}
	if c.Image != nil {
		return c.errAt("image", "image: IDX sources carry their shape in their headers; image is only for image trees and lists")
	}
	for _, s := range c.Sources.All() {
		f, key := s.File, "sources."+s.Key
		if f.File == "" && len(f.URLs) == 0 {
			return c.errAt(key, "%s: needs `file` (joined to each mirror) or `urls`", key)
		}
		if f.SHA256 == "" && f.ContentSHA256 == "" {
			return c.errAt(key, "%s: needs sha256 (of the file as fetched) or content_sha256 (of its bytes after gzip decoding), or both", key)
		}
		if f.SHA256 != "" && !hexSHA256.MatchString(f.SHA256) {
			return c.errAt(key+".sha256", "%s: sha256 must be 64 lower-case hex digits, got %q", key, f.SHA256)
		}
		if f.ContentSHA256 != "" && !hexSHA256.MatchString(f.ContentSHA256) {
			return c.errAt(key+".content_sha256", "%s: content_sha256 must be 64 lower-case hex digits, got %q", key, f.ContentSHA256)
		}
		if len(f.URLs) == 0 && len(c.Mirrors) == 0 {
			return c.errAt(key, "%s: no urls and no mirrors: nowhere to fetch %s from", key, f.File)
		}
	}
	return nil
}

// validateRest checks everything but the dataset name, classes and sources.
func (c *Config) validateRest() error {
	if err := c.validateNormalize(); err != nil {
		return err
	}
	sp := c.Split
	if sp.ValFraction != 0 && sp.ValCount != 0 {
		return c.errAt("split.val_count", "split: give val_fraction or val_count, not both")
	}
	if sp.ValFraction < 0 || sp.ValFraction >= 1 || math.IsNaN(sp.ValFraction) {
		return c.errAt("split.val_fraction", "split.val_fraction must be in [0, 1), got %v (train keeps the rest)", sp.ValFraction)
	}
	if sp.ValCount < 0 {
		return c.errAt("split.val_count", "split.val_count must be ≥ 0, got %d", sp.ValCount)
	}
	seenLabel := map[int]bool{}
	for i, l := range sp.Labels {
		if l < 0 || l >= len(c.Classes) || seenLabel[l] {
			return c.errAt(fmt.Sprintf("split.labels[%d]", i), "split.labels: %d is not a new label in [0, %d)", l, len(c.Classes))
		}
		seenLabel[l] = true
	}
	if sp.Remap && len(sp.Labels) == 0 {
		return c.errAt("split.remap", "split.remap needs split.labels")
	}
	if sp.PerClass < 0 {
		return c.errAt("split.per_class", "split.per_class must be ≥ 0, got %d", sp.PerClass)
	}
	seenSplit := map[vocab.Split]bool{}
	for i, name := range sp.AllowEmpty {
		if !name.Valid() || seenSplit[name] {
			return c.errAt(fmt.Sprintf("split.allow_empty[%d]", i), "split.allow_empty: %q is not a new split name (%s)", name, vocab.OrList(vocab.Splits[:]))
		}
		seenSplit[name] = true
	}
	a := c.Augment
	if a.Copies < 0 || a.Copies > 1000 {
		return c.errAt("augment.copies", "augment.copies must be in [0, 1000], got %d", a.Copies)
	}
	if a.Copies > 0 && len(a.Ops) == 0 {
		return c.errAt("augment.ops", "augment.copies is %d but no ops are listed", a.Copies)
	}
	for i, s := range a.Splits {
		if !s.Valid() {
			return c.errAt(fmt.Sprintf("augment.splits[%d]", i), "augment.splits: unknown split %q (%s)", s, vocab.OrList(vocab.Splits[:]))
		}
	}
	sh := c.Shards
	if sh.Rows < 1 {
		return c.errAt("shards.rows", "shards.rows must be ≥ 1, got %d", sh.Rows)
	}
	if sh.MaxBytes < 0 {
		return c.errAt("shards.max_bytes", "shards.max_bytes must be ≥ 0, got %d", sh.MaxBytes)
	}
	if sh.BatchRows < 1 {
		return c.errAt("shards.batch_rows", "shards.batch_rows must be ≥ 1, got %d", sh.BatchRows)
	}
	if !sh.Compression.Valid() {
		return c.errAt("shards.compression", "shards.compression must be %s, got %q", vocab.OrList(vocab.Compressions), sh.Compression)
	}
	if !sh.Format.Valid() {
		return c.errAt("shards.format", "shards.format must be %s, got %q", vocab.OrList(vocab.Formats), sh.Format)
	}
	if c.Workers < 0 {
		return c.errAt("workers", "workers must be ≥ 0, got %d", c.Workers)
	}
	return nil
}

// URLs returns the mirror list for a source file, in the order to try.
func (c *Config) URLs(f *File) []string {
	if len(f.URLs) > 0 {
		return f.URLs
	}
	urls := make([]string, 0, len(c.Mirrors))
	for _, m := range c.Mirrors {
		if !strings.HasSuffix(m, "/") {
			m += "/"
		}
		urls = append(urls, m+f.File)
	}
	return urls
}

// KeepMirrors drops every mirror that does not start with prefix — e.g.
// "gomod://" to build from the Go module proxy alone, without trying public
// hosts first.
func (c *Config) KeepMirrors(prefix string) {
	var kept []string
	for _, m := range c.Mirrors {
		if strings.HasPrefix(m, prefix) {
			kept = append(kept, m)
		}
	}
	c.Mirrors = kept
}

// Hashed is the part of a configuration that determines the bytes of a
// dataset. Mirrors, URLs and file digests are left out: a source is pinned
// by its content, so where it came from, or in which container, cannot
// change a byte.
type Hashed struct {
	Dataset string   `json:"dataset"`
	Classes []string `json:"classes"`
	// Sources maps each IDX source to the digest of its content (its bytes
	// after gzip decoding: content_sha256, or, where only sha256 pins the
	// file, the digest prep computes from it), so a raw and a gzip copy of
	// the same data are the same version; for trees and lists each split
	// maps to "images".
	Sources map[string]string `json:"sources"`
	// Image is the converted shape of tree and list sources; their content
	// enters the version through the hash input's content digest, not paths.
	Image     *Image    `json:"image,omitempty"`
	Normalize Normalize `json:"normalize"`
	Split     Split     `json:"split"`
	Augment   Augment   `json:"augment"`
	Shards    Shards    `json:"shards"`
}

// Hashed returns the byte-determining part of c.
func (c *Config) Hashed() Hashed {
	src := map[string]string{}
	if c.Sources.IDX() {
		for _, s := range c.Sources.All() {
			src[s.Key] = s.File.ContentSHA256
		}
	} else {
		src["train"] = "images"
		if c.Sources.Test != nil {
			src["test"] = "images"
		}
	}
	a := c.Augment
	if a.Copies == 0 {
		a = Augment{} // ops without copies change nothing
	} else {
		a.Splits = slices.Sorted(slices.Values(a.Splits))
	}
	sp := c.Split
	sp.AllowEmpty = nil // decides whether a build may finish, not its bytes
	return Hashed{
		Dataset:   c.Dataset,
		Classes:   c.Classes,
		Sources:   src,
		Image:     c.Image,
		Normalize: c.Normalize,
		Split:     sp,
		Augment:   a,
		Shards:    c.Shards,
	}
}

// Marshal returns the resolved configuration as YAML (defaults filled in).
func (c *Config) Marshal() ([]byte, error) { return yaml.Marshal(c) }

// FromJSON decodes a resolved configuration embedded in a manifest (strictly)
// and validates it; name is used in errors.
func FromJSON(data []byte, name string) (*Config, error) {
	c := &Config{file: name, lines: map[string]int{}}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, &Error{File: name, Msg: err.Error()}
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) validateNormalize() error {
	n := c.Normalize
	switch n.Mode {
	case vocab.NormalizeCompute, vocab.NormalizeNone:
		if !n.Mean.IsZero() || !n.Std.IsZero() {
			return c.errAt("normalize.mode", "normalize: mean/std are only used with mode: fixed (mode is %q)", n.Mode)
		}
	case vocab.NormalizeFixed:
		bad := len(n.Std) == 0
		for _, s := range n.Std {
			bad = bad || !(s > 0) || math.IsInf(s, 0)
		}
		for _, m := range n.Mean {
			bad = bad || math.IsNaN(m) || math.IsInf(m, 0)
		}
		if bad {
			return c.errAt("normalize.std", "normalize: fixed needs a finite mean and a std > 0, got mean=%v std=%v", fmtValues(n.Mean), fmtValues(n.Std))
		}
		if len(n.Mean) > 1 && len(n.Std) > 1 && len(n.Mean) != len(n.Std) {
			return c.errAt("normalize.mean", "normalize: %d means but %d stds (give one number for every channel or one per channel)", len(n.Mean), len(n.Std))
		}
	default:
		return c.errAt("normalize.mode", "normalize.mode must be %s, got %q", vocab.OrList(vocab.NormalizeModes), n.Mode)
	}
	return nil
}

func fmtValues(v manifest.Values) string {
	if len(v) == 0 {
		return "0"
	}
	return v.Text()
}

// FixedNormalize returns the mode-fixed mean and std for images of the given
// channel count: a single number applies to every channel, a list must have
// one number per channel (an error naming the config line otherwise).
func (c *Config) FixedNormalize(channels int) (mean, std manifest.Values, err error) {
	mean = c.Normalize.Mean
	if len(mean) == 0 {
		mean = manifest.Values{0}
	}
	if mean, err = mean.Broadcast(channels); err != nil {
		return nil, nil, c.errAt("normalize.mean", "normalize.mean: %v", err)
	}
	if std, err = c.Normalize.Std.Broadcast(channels); err != nil {
		return nil, nil, c.errAt("normalize.std", "normalize.std: %v", err)
	}
	return mean, std, nil
}
