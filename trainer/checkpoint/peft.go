package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// PEFT's file names and key prefix: a directory holding these two files
// loads with peft.PeftModel.from_pretrained(timm_model, dir).
const (
	PEFTConfigFile  = "adapter_config.json"
	PEFTWeightsFile = "adapter_model.safetensors"
	peftPrefix      = "base_model.model."
)

// PEFTConfig is the adapter_config.json of a PEFT LoRA adapter: the
// LoraConfig fields that describe what was trained, the rest at PEFT's
// defaults so that from_pretrained needs nothing else.
type PEFTConfig struct {
	PEFTType          string   `json:"peft_type"`
	TaskType          *string  `json:"task_type"`
	BaseModel         *string  `json:"base_model_name_or_path"`
	InferenceMode     bool     `json:"inference_mode"`
	R                 int      `json:"r"`
	LoRAAlpha         float64  `json:"lora_alpha"`
	LoRADropout       float64  `json:"lora_dropout"`
	TargetModules     []string `json:"target_modules"`
	ModulesToSave     []string `json:"modules_to_save"`
	Bias              string   `json:"bias"`
	FanInFanOut       bool     `json:"fan_in_fan_out"`
	InitLoRAWeights   bool     `json:"init_lora_weights"`
	UseRSLoRA         bool     `json:"use_rslora"`
	UseDoRA           bool     `json:"use_dora"`
	LayersToTransform *[]int   `json:"layers_to_transform"`
	LayersPattern     *string  `json:"layers_pattern"`
	RankPattern       struct{} `json:"rank_pattern"`
	AlphaPattern      struct{} `json:"alpha_pattern"`
}

// PEFTKey is PEFT's name for a tensor of the adapted model: the module path
// under "base_model.model.", with the adapter name ("default") removed, as
// get_peft_model_state_dict saves it.
func PEFTKey(name string) string { return peftPrefix + name }

// WritePEFT writes the LoRA adapters of c, and the parameters of the
// modules trained in full (head: PEFT's modules_to_save), into dir in
// PEFT's layout: adapter_model.safetensors with PEFT's keys and
// adapter_config.json. Every adapter must share one rank and alpha (PEFT's
// rank_pattern is not written). Each file is replaced atomically; the
// config is written last, so a directory with a config has its weights.
func WritePEFT(dir string, c *Checkpoint, modulesToSave []string) error {
	var modules []string
	rank, alpha, blocks := 0, 0.0, 0
	isAdapter := map[string]bool{}
	for _, l := range c.Meta.Arch.Layers {
		if l.Type == "vit_block" {
			blocks++
		}
		for _, m := range l.LoRAModules() {
			if rank != 0 && (l.LoRARank != rank || l.LoRAAlpha != alpha) {
				return fmt.Errorf("checkpoint: PEFT export: %s has rank %d alpha %g, %s rank %d alpha %g; the export needs one rank and alpha",
					m, l.LoRARank, l.LoRAAlpha, modules[0], rank, alpha)
			}
			rank, alpha = l.LoRARank, l.LoRAAlpha
			modules = append(modules, m)
		}
		for _, p := range l.LoRAParams() {
			isAdapter[p] = true
		}
	}
	if len(modules) == 0 {
		return errors.New("checkpoint: PEFT export: the model has no LoRA adapters")
	}
	var ts []Tensor
	saved := map[string]bool{}
	for _, w := range c.Weights {
		keep := isAdapter[w.Name]
		for _, m := range modulesToSave {
			if strings.HasPrefix(w.Name, m+".") {
				keep, saved[m] = true, true
			}
		}
		if keep {
			ts = append(ts, Tensor{Name: PEFTKey(w.Name), Shape: w.Shape, Data: w.Data})
		}
	}
	for _, m := range modulesToSave {
		if !saved[m] {
			return fmt.Errorf("checkpoint: PEFT export: the model has no module %q to save", m)
		}
	}
	cfg := PEFTConfig{PEFTType: "LORA", InferenceMode: true, R: rank, LoRAAlpha: alpha,
		TargetModules: peftTargets(modules, blocks), ModulesToSave: slices.Clone(modulesToSave),
		Bias: "none", InitLoRAWeights: true}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if _, err := writeAtomic(filepath.Join(dir, PEFTWeightsFile), func(w io.Writer) error {
		return EncodeSafetensors(w, ts, map[string]string{"format": "pt"})
	}); err != nil {
		return err
	}
	_, err = writeAtomic(filepath.Join(dir, PEFTConfigFile), func(w io.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	})
	return err
}

// peftTargets gives target_modules for the adapted modules of a model with
// the given number of transformer blocks: where every block carries the
// same sublayers ("blocks.N.attn.qkv"), the
// sublayer suffixes ("attn.qkv"), which PEFT matches against the end of
// each module's name; otherwise the full names, which it matches exactly.
func peftTargets(modules []string, blocks int) []string {
	perBlock := map[string][]string{}
	var adapted []string
	for _, m := range modules {
		rest, ok := strings.CutPrefix(m, "blocks.")
		i := strings.IndexByte(rest, '.')
		if !ok || i < 0 {
			return modules
		}
		b := rest[:i]
		if _, seen := perBlock[b]; !seen {
			adapted = append(adapted, b)
		}
		perBlock[b] = append(perBlock[b], rest[i+1:])
	}
	if len(adapted) != blocks {
		return modules
	}
	first := perBlock[adapted[0]]
	for _, b := range adapted {
		if !slices.Equal(perBlock[b], first) {
			return modules
		}
	}
	return slices.Clone(first)
}
