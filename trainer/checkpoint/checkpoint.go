// Package checkpoint saves and restores training state: model weights as
// safetensors (loadable by PyTorch's `safetensors`), optimizer state as a
// second safetensors file, and a JSON sidecar with everything else needed to
// resume or fine-tune (architecture, epoch and step, random-generator state,
// dataset version, normalisation, class names, free-form extras).
//
// A checkpoint at base path P is its sidecar P.json and the files it names:
// P.gN.safetensors (the weights, the plain model's state dict),
// P.gN.optim.safetensors (when there is optimizer state) and
// P.gN.lora.safetensors (when the model has LoRA adapters: the adapter
// tensors, apart from the base weights, so they can be shipped on their
// own), where N is the save's generation. Each save writes a new
// generation beside the last one, then replaces the sidecar atomically —
// the switch — and only then removes the older generation's files. The
// sidecar records the size and SHA-256 of each file, so a failure at any
// moment of a save (a full disk between two files, a kill between two
// renames) leaves the previous checkpoint whole and loadable, and a reader
// never mistakes a half-written checkpoint for a whole one.
package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/shardsmith/shardsmith/trainer/nn"
	"github.com/shardsmith/shardsmith/trainer/optim"
)

// FormatVersion identifies the sidecar layout.
const FormatVersion = "shardsmith-checkpoint/1"

// FileInfo identifies a file of the checkpoint.
type FileInfo struct {
	Name   string `json:"name"` // relative to the sidecar's directory
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Normalization is the per-channel input normalisation the model was
// trained with.
type Normalization struct {
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
}

// ImageShape is the shape of the images a model was trained on, as the
// dataset stores them (height × width × channels, HWC). The model's own
// input shape (Arch.Input) says how it lays them out ([C H W] for a CNN, one
// flat vector for an MLP); ImageShape keeps apart datasets whose images
// have the same number of values, such as 28×28×3 and 84×28×1.
type ImageShape struct {
	Height   int `json:"height"`
	Width    int `json:"width"`
	Channels int `json:"channels"`
}

func (s ImageShape) String() string { return fmt.Sprintf("%dx%dx%d", s.Height, s.Width, s.Channels) }

// CheckImage refuses images of another shape than the checkpoint's. A
// checkpoint saved before shapes were recorded has none, and the caller's
// check of the input size is all there is.
func (m Meta) CheckImage(got ImageShape) error {
	if m.Image != nil && *m.Image != got {
		return fmt.Errorf("checkpoint was trained on %s images (height x width x channels), the shards hold %s", m.Image, got)
	}
	return nil
}

// OptimizerInfo is the JSON part of the optimizer state; the buffers are in
// the optimizer safetensors file.
type OptimizerInfo struct {
	Config optim.Config `json:"config"`
	Step   int64        `json:"step"`
}

// Meta is the JSON sidecar.
type Meta struct {
	Format         string                     `json:"format"`
	Arch           nn.Spec                    `json:"arch"`
	Epoch          int                        `json:"epoch"`
	Step           int64                      `json:"step"`
	Frozen         []string                   `json:"frozen,omitempty"`    // frozen parameter names
	ModelRNG       map[string][]byte          `json:"model_rng,omitempty"` // per-layer generator state (dropout)
	RNG            map[string][]byte          `json:"rng,omitempty"`       // other generators (loader, augmentation)
	Optimizer      *OptimizerInfo             `json:"optimizer,omitempty"`
	DatasetVersion string                     `json:"dataset_version,omitempty"`
	Dataset        string                     `json:"dataset,omitempty"` // the dataset's name
	Sources        []string                   `json:"sources,omitempty"` // its source files' digests (trainer.SourceDigests)
	Normalization  *Normalization             `json:"normalization,omitempty"`
	Image          *ImageShape                `json:"image,omitempty"` // the training images' shape
	ClassNames     []string                   `json:"class_names,omitempty"`
	Extra          map[string]json.RawMessage `json:"extra,omitempty"`
	// Generation numbers the saves at one base path; the files of a
	// generation carry it in their names (0: a checkpoint from before
	// generations, whose files are P.safetensors and so on).
	Generation    int64     `json:"generation,omitempty"`
	Weights       FileInfo  `json:"weights"`
	OptimizerFile *FileInfo `json:"optimizer_file,omitempty"`
	LoRAFile      *FileInfo `json:"lora_file,omitempty"` // LoRA adapter tensors
}

// Checkpoint is everything a checkpoint holds, in memory.
type Checkpoint struct {
	Meta      Meta
	Weights   []nn.Named
	Optimizer *optim.State // nil when not saved
}

// Capture collects the state of a model and (optionally) its optimizer into
// a checkpoint. Meta supplies the caller's fields (epoch, step, dataset
// version, …); Arch, Frozen, ModelRNG and Optimizer are filled in. Weights
// alias the model, so save before the next training step.
func Capture(m *nn.Sequential, o *optim.Optimizer, meta Meta) (*Checkpoint, error) {
	meta.Arch = m.Spec()
	meta.Frozen = nil
	for _, p := range m.Params() {
		if p.Frozen {
			meta.Frozen = append(meta.Frozen, p.Name)
		}
	}
	rng, err := m.RNGState()
	if err != nil {
		return nil, err
	}
	if len(rng) > 0 {
		meta.ModelRNG = rng
	}
	c := &Checkpoint{Meta: meta, Weights: m.State()}
	if o != nil {
		st := o.State()
		c.Optimizer = &st
		c.Meta.Optimizer = &OptimizerInfo{Config: o.Config(), Step: st.Step}
	}
	return c, nil
}

// Restore builds the model described by the checkpoint and loads its
// weights, random-generator state and frozen flags.
func (c *Checkpoint) Restore() (*nn.Sequential, error) {
	m, err := nn.Build(c.Meta.Arch)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: rebuilding model: %w", err)
	}
	if err := m.LoadState(c.Weights); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if len(c.Meta.ModelRNG) > 0 {
		if err := m.SetRNGState(c.Meta.ModelRNG); err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
	}
	for _, name := range c.Meta.Frozen {
		if err := m.Freeze(name); err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
	}
	return m, nil
}

// RestoreOptimizer loads the saved optimizer state into o, which must have
// been built for the restored model with the same algorithm.
func (c *Checkpoint) RestoreOptimizer(o *optim.Optimizer) error {
	if c.Optimizer == nil {
		return fmt.Errorf("checkpoint: no optimizer state saved")
	}
	if err := o.LoadState(*c.Optimizer); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// Paths returns the weights, optimizer and sidecar paths of the checkpoint
// at base path p (a trailing ".json" is removed): the files its sidecar
// names, or, where it names none (no optimizer state) or there is no
// readable sidecar, the names its current generation would give them.
func Paths(p string) (weights, optimizer, sidecar string) {
	base := strings.TrimSuffix(p, ".json")
	sidecar = base + ".json"
	meta, _, _ := readMeta(sidecar)
	var g int64
	if meta != nil {
		g = meta.Generation
	}
	weights, optimizer = genFile(base, g, "safetensors"), genFile(base, g, "optim.safetensors")
	dir := filepath.Dir(base)
	if meta != nil && meta.Weights.Name != "" {
		weights = filepath.Join(dir, meta.Weights.Name)
	}
	if meta != nil && meta.OptimizerFile != nil {
		optimizer = filepath.Join(dir, meta.OptimizerFile.Name)
	}
	return weights, optimizer, sidecar
}

// LoRAPath returns the adapter file of the checkpoint at base path p: the
// one its sidecar names, or else MergedLoRAPath.
func LoRAPath(p string) string {
	base := strings.TrimSuffix(p, ".json")
	if meta, _, _ := readMeta(base + ".json"); meta != nil && meta.LoRAFile != nil {
		return filepath.Join(filepath.Dir(base), meta.LoRAFile.Name)
	}
	return MergedLoRAPath(p)
}

// MergedLoRAPath is where adapters folded into a plain checkpoint at base
// path p are kept, to be shipped on their own: P.lora.safetensors, a name
// of no generation, which saves leave alone.
func MergedLoRAPath(p string) string { return strings.TrimSuffix(p, ".json") + ".lora.safetensors" }

// genFile names a file of generation g of the checkpoint at base; kind is
// "safetensors", "optim.safetensors" or "lora.safetensors". Generation 0 is
// the layout from before generations.
func genFile(base string, g int64, kind string) string {
	if g == 0 {
		return base + "." + kind
	}
	return base + ".g" + strconv.FormatInt(g, 10) + "." + kind
}

// reGenFile matches what follows "BASE." in the name of a generation's file.
var reGenFile = regexp.MustCompile(`^g([0-9]+)\.(safetensors|optim\.safetensors|lora\.safetensors)$`)

// ReadMeta reads the sidecar of the checkpoint at base path p without
// checking the files it names (Load does).
func ReadMeta(p string) (*Meta, error) {
	m, _, err := readMeta(strings.TrimSuffix(p, ".json") + ".json")
	return m, err
}

// Exists reports whether a checkpoint sidecar exists at base path p (whole
// or not: Load checks that).
func Exists(p string) bool {
	_, err := os.Lstat(strings.TrimSuffix(p, ".json") + ".json")
	return err == nil
}

// LoRAAdapter describes one adapted layer in the adapter file's metadata.
type LoRAAdapter struct {
	Layer string  `json:"layer"`
	Rank  int     `json:"rank"`
	Alpha float64 `json:"alpha"`
}

// splitLoRA separates the adapter tensors named by arch from the rest and
// returns the adapter file's metadata: "adapters" (a JSON list of
// LoRAAdapter) and, when all layers share them, PEFT's "r" and "lora_alpha"
// and "target_modules".
func splitLoRA(arch nn.Spec, ts []Tensor) (base, adapters []Tensor, md map[string]string, err error) {
	isAdapter := map[string]bool{}
	var list []LoRAAdapter
	for _, l := range arch.Layers {
		for _, name := range l.LoRAParams() {
			isAdapter[name] = true
		}
		for _, m := range l.LoRAModules() {
			list = append(list, LoRAAdapter{Layer: m, Rank: l.LoRARank, Alpha: l.LoRAAlpha})
		}
	}
	if len(list) == 0 {
		return ts, nil, nil, nil
	}
	for _, t := range ts {
		if isAdapter[t.Name] {
			adapters = append(adapters, t)
		} else {
			base = append(base, t)
		}
	}
	if len(adapters) != len(isAdapter) {
		return nil, nil, nil, fmt.Errorf("checkpoint: the architecture names %d adapter tensors, the weights hold %d", len(isAdapter), len(adapters))
	}
	js, err := json.Marshal(list)
	if err != nil {
		return nil, nil, nil, err
	}
	md = map[string]string{"format": "pt", "adapters": string(js)}
	targets := make([]string, len(list))
	same := true
	for i, a := range list {
		targets[i] = a.Layer
		same = same && a.Rank == list[0].Rank && a.Alpha == list[0].Alpha
	}
	if same {
		md["r"] = strconv.Itoa(list[0].Rank)
		md["lora_alpha"] = strconv.FormatFloat(list[0].Alpha, 'g', -1, 64)
		md["target_modules"] = strings.Join(targets, ",")
	}
	return base, adapters, md, nil
}

// Save writes the checkpoint at base path p as a new generation: weights,
// adapters and optimizer state under names carrying the generation, then
// the sidecar, which replaces the previous one atomically and so switches
// to the new generation in one step, and last the removal of the files no
// longer named (the previous generation's, and any a failed save left).
// Until the sidecar is replaced, the previous checkpoint is untouched; an
// error after that means the new checkpoint is in place.
func Save(p string, c *Checkpoint) error {
	base := strings.TrimSuffix(p, ".json")
	jPath := base + ".json"
	meta := c.Meta
	meta.Format = FormatVersion
	prev, _, _ := readMeta(jPath)
	meta.Generation = nextGeneration(base, prev)
	arch, err := json.Marshal(meta.Arch)
	if err != nil {
		return fmt.Errorf("checkpoint: encoding architecture: %w", err)
	}
	tensors := make([]Tensor, len(c.Weights))
	for i, w := range c.Weights {
		tensors[i] = Tensor{Name: w.Name, Shape: w.Shape, Data: w.Data}
	}
	tensors, adapters, loraMD, err := splitLoRA(meta.Arch, tensors)
	if err != nil {
		return err
	}
	meta.Weights, err = writeAtomic(genFile(base, meta.Generation, "safetensors"), func(w io.Writer) error {
		return EncodeSafetensors(w, tensors, map[string]string{"format": "pt", "arch": string(arch)})
	})
	if err != nil {
		return err
	}
	meta.LoRAFile = nil
	if len(adapters) > 0 {
		fi, err := writeAtomic(genFile(base, meta.Generation, "lora.safetensors"), func(w io.Writer) error { return EncodeSafetensors(w, adapters, loraMD) })
		if err != nil {
			return err
		}
		meta.LoRAFile = &fi
	}
	meta.OptimizerFile = nil
	if c.Optimizer != nil {
		names := make([]string, 0, len(c.Optimizer.Tensors))
		for name := range c.Optimizer.Tensors {
			names = append(names, name)
		}
		slices.Sort(names)
		ot := make([]Tensor, len(names))
		for i, name := range names {
			v := c.Optimizer.Tensors[name]
			ot[i] = Tensor{Name: name, Shape: []int{len(v)}, Data: v}
		}
		md := map[string]string{"algorithm": string(c.Optimizer.Algorithm), "step": strconv.FormatInt(c.Optimizer.Step, 10)}
		fi, err := writeAtomic(genFile(base, meta.Generation, "optim.safetensors"), func(w io.Writer) error { return EncodeSafetensors(w, ot, md) })
		if err != nil {
			return err
		}
		meta.OptimizerFile = &fi
	}
	js, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("checkpoint: encoding %s: %w", jPath, err)
	}
	if _, err := writeAtomic(jPath, func(w io.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	}); err != nil {
		return err
	}
	removeUnnamed(base, &meta, prev)
	return nil
}

// nextGeneration is one more than the previous sidecar's generation and
// than any generation whose files lie at base, so a new save never writes
// over a file that a sidecar names.
func nextGeneration(base string, prev *Meta) int64 {
	var g int64
	if prev != nil {
		g = prev.Generation
	}
	ents, _ := os.ReadDir(filepath.Dir(base))
	prefix := filepath.Base(base) + "."
	for _, e := range ents {
		if name, ok := strings.CutPrefix(e.Name(), prefix); ok {
			if m := reGenFile.FindStringSubmatch(name); m != nil {
				if n, err := strconv.ParseInt(m[1], 10, 64); err == nil {
					g = max(g, n)
				}
			}
		}
	}
	return g + 1
}

// removeUnnamed deletes, after the switch to meta, the files of the
// checkpoint at base that meta does not name: those of other generations
// (the previous one, or what a failed save left), the files prev named
// (a checkpoint from before generations), and temporary files of
// interrupted writes. Failing to remove one costs only disk space.
func removeUnnamed(base string, meta, prev *Meta) {
	keep := map[string]bool{filepath.Base(base) + ".json": true}
	named := func(m *Meta) []string {
		if m == nil {
			return nil
		}
		out := []string{m.Weights.Name}
		for _, f := range []*FileInfo{m.OptimizerFile, m.LoRAFile} {
			if f != nil {
				out = append(out, f.Name)
			}
		}
		return out
	}
	for _, n := range named(meta) {
		keep[n] = true
	}
	drop := map[string]bool{}
	for _, n := range named(prev) {
		drop[n] = true
	}
	dir := filepath.Dir(base)
	prefix := filepath.Base(base) + "."
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		name := e.Name()
		if keep[name] || !e.Type().IsRegular() {
			continue
		}
		rest, ours := strings.CutPrefix(name, prefix)
		tmp := strings.HasPrefix(name, "."+prefix) && strings.Contains(name, ".tmp-")
		if drop[name] || (ours && reGenFile.MatchString(rest)) || tmp {
			os.Remove(filepath.Join(dir, name))
		}
	}
}

// readMeta reads and decodes the sidecar at jPath; it also returns the raw
// bytes.
func readMeta(jPath string) (*Meta, []byte, error) {
	raw, err := os.ReadFile(jPath)
	if err != nil {
		return nil, nil, err
	}
	var meta Meta
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&meta); err != nil {
		return nil, raw, fmt.Errorf("%s: %w", jPath, err)
	}
	return &meta, raw, nil
}

// Load reads a checkpoint saved by Save, checking that the files the
// sidecar names are the ones it recorded. A save running meanwhile may
// remove the generation the sidecar named just after it was read: then
// the new sidecar is read and followed instead.
func Load(p string) (*Checkpoint, error) {
	base := strings.TrimSuffix(p, ".json")
	jPath := base + ".json"
	for attempt := 0; ; attempt++ {
		c, raw, err := load(jPath)
		if err == nil {
			return c, nil
		}
		if attempt < 3 && raw != nil && errors.Is(err, fs.ErrNotExist) {
			if now, rerr := os.ReadFile(jPath); rerr == nil && !bytes.Equal(now, raw) {
				continue
			}
		}
		return nil, err
	}
}

// LoadModel loads the checkpoint at p and rebuilds its model, what every
// reader of a checkpoint but resume (which restores the optimizer too) does.
func LoadModel(p string) (*Checkpoint, *nn.Sequential, error) {
	c, err := Load(p)
	if err != nil {
		return nil, nil, err
	}
	model, err := c.Restore()
	if err != nil {
		return nil, nil, err
	}
	return c, model, nil
}

func load(jPath string) (*Checkpoint, []byte, error) {
	meta, raw, err := readMeta(jPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("checkpoint: no checkpoint at %s: %w", strings.TrimSuffix(jPath, ".json"), err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	if meta.Format != FormatVersion {
		return nil, nil, fmt.Errorf("checkpoint: %s: format %q, want %q", jPath, meta.Format, FormatVersion)
	}
	if im := meta.Image; im != nil && (im.Height < 1 || im.Width < 1 || im.Channels < 1) {
		return nil, nil, fmt.Errorf("checkpoint: %s: image shape %s is not a valid height x width x channels", jPath, im)
	}
	dir := filepath.Dir(jPath)
	wf, err := readChecked(dir, meta.Weights, jPath)
	if err != nil {
		return nil, raw, err
	}
	c := &Checkpoint{Meta: *meta}
	files := []*Safetensors{wf}
	if meta.LoRAFile != nil {
		lf, err := readChecked(dir, *meta.LoRAFile, jPath)
		if err != nil {
			return nil, raw, err
		}
		files = append(files, lf)
	}
	for _, f := range files {
		for _, t := range f.Tensors {
			data, shape, err := f.Float32(t.Name)
			if err != nil {
				return nil, nil, err
			}
			c.Weights = append(c.Weights, nn.Named{Name: t.Name, Shape: shape, Data: data})
		}
	}
	if meta.OptimizerFile != nil {
		of, err := readChecked(dir, *meta.OptimizerFile, jPath)
		if err != nil {
			return nil, raw, err
		}
		st := &optim.State{Tensors: map[string][]float32{}}
		st.Algorithm = optim.Algorithm(of.Metadata["algorithm"])
		if st.Step, err = strconv.ParseInt(of.Metadata["step"], 10, 64); err != nil {
			return nil, nil, fmt.Errorf("checkpoint: %s: metadata step %q is not an integer", of.Name, of.Metadata["step"])
		}
		for _, t := range of.Tensors {
			data, _, err := of.Float32(t.Name)
			if err != nil {
				return nil, nil, err
			}
			st.Tensors[t.Name] = data
		}
		c.Optimizer = st
	}
	return c, raw, nil
}

// readChecked reads a file named by the sidecar and verifies its size and
// hash before decoding it.
func readChecked(dir string, fi FileInfo, sidecar string) (*Safetensors, error) {
	if fi.Name == "" || fi.Name != filepath.Base(fi.Name) {
		return nil, fmt.Errorf("checkpoint: %s: invalid file name %q", sidecar, fi.Name)
	}
	path := filepath.Join(dir, fi.Name)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	sum := sha256.Sum256(b)
	if int64(len(b)) != fi.Bytes || hex.EncodeToString(sum[:]) != fi.SHA256 {
		return nil, fmt.Errorf("checkpoint: %s does not match %s (size %d, want %d; or different SHA-256): the checkpoint was not completely written or was modified", path, sidecar, len(b), fi.Bytes)
	}
	return DecodeSafetensors(b, path)
}

// Same reports whether mean and std are n's, value for value within 1e-6
// (the precision the trainer compares them with), channel count included.
func (n *Normalization) Same(mean, std []float64) bool {
	if len(n.Mean) != len(mean) || len(n.Std) != len(std) {
		return false
	}
	for i := range mean {
		if math.Abs(n.Mean[i]-mean[i]) > 1e-6 {
			return false
		}
	}
	for i := range std {
		if math.Abs(n.Std[i]-std[i]) > 1e-6 {
			return false
		}
	}
	return true
}
