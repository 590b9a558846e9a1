package trainer

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/checkpoint"
	"github.com/shardsmith/shardsmith/trainer/data"
	"github.com/shardsmith/shardsmith/trainer/nn"
)

// loraSetup pretrains an MLP on classes a, b and returns its checkpoint and a
// few-shot dataset of classes c, d.
func loraSetup(t *testing.T) (ck string, fewshot *data.Dataset) {
	t.Helper()
	fixed := "normalize: {mode: fixed, mean: 0.4, std: 0.3}\n"
	base := datasetWith(t, fixed+"split: {seed: 1, val_fraction: 0.2, labels: [0, 1], remap: true}\n")
	fewshot = datasetWith(t, fixed+"split: {seed: 1, val_fraction: 0.2, labels: [2, 3], remap: true, per_class: 20}\n")
	pre, err := NewSession(mlpConfig(3), base, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, pre)
	ck = filepath.Join(t.TempDir(), CheckpointBase)
	if err := pre.Save(ck); err != nil {
		t.Fatal(err)
	}
	return ck, fewshot
}

func loraOptions() FinetuneOptions { return FinetuneOptions{LoRARank: 4, LoRAAlpha: 8} }

func TestFinetuneLoRATrainsAdaptersAndHeadOnly(t *testing.T) {
	ck, fewshot := loraSetup(t)
	var logs []string
	logf := func(format string, a ...any) { logs = append(logs, format) }
	ft, err := Finetune(ck, fewshot, mlpConfig(8), loraOptions(), logf)
	if err != nil {
		t.Fatal(err)
	}
	if l := strings.Join(logs, "\n"); !strings.Contains(l, "replacing the head") || !strings.Contains(l, "LoRA rank") {
		t.Fatalf("head replacement or LoRA not reported: %v", logs)
	}
	var trainable []string
	for _, p := range ft.Model.Trainable() {
		trainable = append(trainable, p.Name)
	}
	if want := []string{"fc1.lora_A.weight", "fc1.lora_B.weight", "fc2.weight", "fc2.bias"}; !slices.Equal(trainable, want) {
		t.Fatalf("trainable %v, want %v", trainable, want)
	}
	before := map[string][]float32{}
	for _, p := range ft.Model.Params() {
		before[p.Name] = slices.Clone(p.Data)
	}
	trainAll(t, ft)
	for _, p := range ft.Model.Params() {
		changed := !slices.Equal(before[p.Name], p.Data)
		if changed == p.Frozen {
			t.Errorf("%s: frozen=%v, changed=%v", p.Name, p.Frozen, changed)
		}
	}
	conf, loss, err := ft.Evaluate(t.Context(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if conf.Accuracy() < 0.8 {
		t.Fatalf("LoRA fine-tuning reaches only %.3f on the new classes", conf.Accuracy())
	}

	// The run's checkpoint restores the adapted model (trainer eval) ...
	dir := t.TempDir()
	run := filepath.Join(dir, CheckpointBase)
	if err := ft.Save(run); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(checkpoint.LoRAPath(run)); err != nil {
		t.Fatalf("no adapter file: %v", err)
	}
	c, err := checkpoint.Load(run)
	if err != nil {
		t.Fatal(err)
	}
	restored, err := c.Restore()
	if err != nil {
		t.Fatal(err)
	}
	if len(restored.Adapters()) != 1 {
		t.Fatalf("restored model has %d adapters", len(restored.Adapters()))
	}
	rconf, rloss, err := Evaluate(t.Context(), restored, fewshot, "test", 256)
	if err != nil {
		t.Fatal(err)
	}
	if rconf.Accuracy() != conf.Accuracy() || rloss != loss {
		t.Errorf("restored: accuracy %v loss %v, session: %v %v", rconf.Accuracy(), rloss, conf.Accuracy(), loss)
	}

	// ... and --merge turns it into a plain checkpoint with the same outputs.
	merged, err := MergeLoRA(run)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(merged, []string{"fc1"}) {
		t.Errorf("merged %v", merged)
	}
	mc, err := checkpoint.Load(run)
	if err != nil {
		t.Fatal(err)
	}
	if mc.Meta.LoRAFile != nil || mc.Optimizer != nil {
		t.Errorf("merged checkpoint still lists adapters (%v) or optimizer state", mc.Meta.LoRAFile)
	}
	for _, l := range mc.Meta.Arch.Layers {
		if l.LoRARank != 0 {
			t.Errorf("merged architecture has an adapter on %s", l.Name)
		}
	}
	if _, opt, _ := checkpoint.Paths(run); fileExists(opt) || !fileExists(checkpoint.LoRAPath(run)) {
		t.Errorf("after merge: optimizer file kept %v, adapter file kept %v", fileExists(opt), fileExists(checkpoint.LoRAPath(run)))
	}
	mm, err := mc.Restore()
	if err != nil {
		t.Fatal(err)
	}
	plain, err := nn.MLP(64, []int{32}, 2, nn.WithSeed(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.LoadState(mc.Weights); err != nil {
		t.Errorf("merged weights do not load into the plain MLP: %v", err)
	}
	mconf, mloss, err := Evaluate(t.Context(), mm, fewshot, "test", 256)
	if err != nil {
		t.Fatal(err)
	}
	if mconf.Accuracy() != conf.Accuracy() || math.Abs(mloss-loss) > 1e-5 {
		t.Errorf("merged: accuracy %v loss %v, adapted: %v %v", mconf.Accuracy(), mloss, conf.Accuracy(), loss)
	}
	if _, err := MergeLoRA(run); err == nil || !strings.Contains(err.Error(), "no LoRA adapters") {
		t.Errorf("merging a plain checkpoint: %v", err)
	}
	// A merged checkpoint fine-tunes like any other.
	if _, err := Finetune(run, fewshot, mlpConfig(1), loraOptions(), logf); err != nil {
		t.Errorf("fine-tuning the merged checkpoint: %v", err)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// A LoRA run interrupted and resumed ends with the same weights as one that
// was not.
func TestFinetuneLoRAResumes(t *testing.T) {
	ck, fewshot := loraSetup(t)
	quiet := func(string, ...any) {}
	straight, err := Finetune(ck, fewshot, mlpConfig(3), loraOptions(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, straight)

	first, err := Finetune(ck, fewshot, mlpConfig(3), loraOptions(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.TrainEpoch(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(t.TempDir(), CheckpointBase)
	if err := first.Save(run); err != nil {
		t.Fatal(err)
	}
	resumed, err := Resume(run, fewshot)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, resumed)
	if !sameWeights(weights(straight), weights(resumed)) {
		t.Fatal("resumed LoRA run ended with different weights")
	}

	// Fine-tuning a LoRA checkpoint again keeps the adapters' base frozen and
	// refuses a second set of adapters.
	again, err := Finetune(run, fewshot, mlpConfig(1), FinetuneOptions{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if a := again.Model.Adapters(); len(a) != 1 || !a[0].Base().W.Frozen || a[0].A.Frozen {
		t.Errorf("re-fine-tuned adapters: %v", a)
	}
	if _, err := Finetune(run, fewshot, mlpConfig(1), loraOptions(), quiet); err == nil || !strings.Contains(err.Error(), "already has a LoRA adapter") {
		t.Errorf("second adapter: %v", err)
	}
}

func TestFinetuneLoRAOptionErrors(t *testing.T) {
	ck, fewshot := loraSetup(t)
	quiet := func(string, ...any) {}
	for _, tc := range []struct {
		opts FinetuneOptions
		want string
	}{
		{FinetuneOptions{LoRARank: 4, Freeze: []string{"features"}}, "would freeze the adapters"},
		{FinetuneOptions{LoRARank: 4, LoRALayers: []string{"fc1", "fc2"}}, "head fc2 was replaced"},
		{FinetuneOptions{LoRARank: 4, LoRALayers: []string{"fc7"}}, `no layer "fc7"`},
		{FinetuneOptions{LoRAAlpha: 8}, "rank must be ≥ 1"},
		{FinetuneOptions{LoRARank: 2, LoRAAlpha: -1}, "alpha must be positive"},
	} {
		if _, err := Finetune(ck, fewshot, mlpConfig(1), tc.opts, quiet); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want mention of %q", tc.opts, err, tc.want)
		}
	}
}
