package trainer

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/tinyset"
	"github.com/shardsmith/shardsmith/internal/tinyset/tinybuild"
	"github.com/shardsmith/shardsmith/trainer/checkpoint"
	"github.com/shardsmith/shardsmith/trainer/data"
)

func TestFinetuneReplacesHeadAndFreezes(t *testing.T) {
	fixed := "normalize: {mode: fixed, mean: 0.4, std: 0.3}\n"
	base := datasetWith(t, fixed+"split: {seed: 1, val_fraction: 0.2, labels: [0, 1], remap: true}\n")
	fewshot := datasetWith(t, fixed+"split: {seed: 1, val_fraction: 0.2, labels: [2, 3], remap: true, per_class: 20}\n")
	if got := fewshot.Manifest.Classes; !slices.Equal(got, []string{"c", "d"}) || fewshot.Rows("train") != 40 {
		t.Fatalf("few-shot classes %v, %d train rows", got, fewshot.Rows("train"))
	}
	pre, err := NewSession(mlpConfig(3), base, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, pre)
	ck := filepath.Join(t.TempDir(), CheckpointBase)
	if err := pre.Save(ck); err != nil {
		t.Fatal(err)
	}
	var logs []string
	logf := func(format string, a ...any) { logs = append(logs, format) }
	ft, err := Finetune(ck, fewshot, mlpConfig(10), FinetuneOptions{Freeze: []string{"features"}}, logf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(logs, "\n"), "replacing the head") {
		t.Fatalf("head replacement not reported: %v", logs)
	}
	before := map[string][]float32{}
	for _, p := range ft.Model.Params() {
		before[p.Name] = slices.Clone(p.Data)
	}
	trainAll(t, ft)
	for _, p := range ft.Model.Params() {
		changed := !slices.Equal(before[p.Name], p.Data)
		if isHead := strings.HasPrefix(p.Name, "fc2."); changed != isHead {
			t.Errorf("%s: changed=%v, want %v (only the head trains)", p.Name, changed, isHead)
		}
	}
	conf, _, err := ft.Evaluate(t.Context(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if conf.Accuracy() < 0.8 {
		t.Fatalf("fine-tuned head reaches only %.3f on the new classes", conf.Accuracy())
	}

	other := datasetWith(t, "normalize: {mode: fixed, mean: 0.5, std: 0.3}\nsplit: {seed: 1, val_fraction: 0.2, labels: [2, 3], remap: true}\n")
	if _, err := Finetune(ck, other, mlpConfig(1), FinetuneOptions{}, logf); err == nil || !strings.Contains(err.Error(), "--renormalize") {
		t.Fatalf("normalization mismatch: %v", err)
	}
	if _, err := Finetune(ck, other, mlpConfig(1), FinetuneOptions{Renormalize: true}, logf); err != nil {
		t.Fatalf("--renormalize: %v", err)
	}
}

// A fine-tune with separate head and body rates resumes with those rates:
// interrupted and resumed ends with the weights of an uninterrupted run.
func TestFinetuneResumeKeepsLearningRateGroups(t *testing.T) {
	fixed := "normalize: {mode: fixed, mean: 0.4, std: 0.3}\n"
	base := datasetWith(t, fixed+"split: {seed: 1, val_fraction: 0.2, labels: [0, 1], remap: true}\n")
	fewshot := datasetWith(t, fixed+"split: {seed: 1, val_fraction: 0.2, labels: [2, 3], remap: true, per_class: 20}\n")
	pre, err := NewSession(mlpConfig(1), base, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, pre)
	ck := filepath.Join(t.TempDir(), CheckpointBase)
	if err := pre.Save(ck); err != nil {
		t.Fatal(err)
	}
	opts := FinetuneOptions{LRHead: 3e-3, LRBody: 1e-4}
	quiet := func(string, ...any) {}
	straight, err := Finetune(ck, fewshot, mlpConfig(3), opts, quiet)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, straight)
	first, err := Finetune(ck, fewshot, mlpConfig(3), opts, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.TrainEpoch(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	mid := filepath.Join(t.TempDir(), CheckpointBase)
	if err := first.Save(mid); err != nil {
		t.Fatal(err)
	}
	resumed, err := Resume(mid, fewshot)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, resumed)
	if !sameWeights(weights(straight), weights(resumed)) {
		t.Fatal("resumed fine-tune ended with different weights (learning-rate groups lost?)")
	}
}

// otherDataset builds a dataset of its own source files (tinyset seed 5, not
// datasetWith's 3) under name, with these class names and extra config.
func otherDataset(t *testing.T, name, classes, extra string) *data.Dataset {
	t.Helper()
	out := t.TempDir()
	tinybuild.Build(t, out, name, tinyset.Spec{Train: 480, Test: 160, Side: 8, Classes: 4, Seed: 5, Learnable: true},
		"classes: "+classes+"\nshards: {rows: 100, batch_rows: 32}\n"+extra)
	ds, err := data.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// A checkpoint of one dataset fine-tuned on another (no source file in
// common): no --renormalize needed, the new dataset's normalization and
// classes are used, said and recorded, and the head is new.
func TestFinetuneFromAnotherDataset(t *testing.T) {
	base := datasetWith(t, "normalize: {mode: fixed, mean: 0.4, std: 0.3}\nsplit: {seed: 1, val_fraction: 0.2}\n")
	other := otherDataset(t, "other", "[w, x, y, z]", "normalize: {mode: fixed, mean: 0.5, std: 0.25}\nsplit: {seed: 1, val_fraction: 0.2, per_class: 20}\n")
	if slices.Equal(SourceDigests(base.Manifest), SourceDigests(other.Manifest)) {
		t.Fatal("the two datasets share their sources: the test needs another dataset")
	}
	pre, err := NewSession(mlpConfig(2), base, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, pre)
	ck := filepath.Join(t.TempDir(), CheckpointBase)
	if err := pre.Save(ck); err != nil {
		t.Fatal(err)
	}
	c, err := checkpoint.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	if c.Meta.Dataset != "tiny" || !slices.Equal(c.Meta.Sources, SourceDigests(base.Manifest)) || len(c.Meta.Sources) != 4 {
		t.Fatalf("checkpoint records dataset %q sources %v, want tiny and the 4 digests %v", c.Meta.Dataset, c.Meta.Sources, SourceDigests(base.Manifest))
	}
	oldHead := slices.Clone(pre.Model.Head().Params()[0].Data)

	var logs []string
	logf := func(format string, a ...any) { logs = append(logs, fmt.Sprintf(format, a...)) }
	ft, err := Finetune(ck, other, mlpConfig(2), FinetuneOptions{}, logf)
	if err != nil {
		t.Fatalf("fine-tune on another dataset: %v", err)
	}
	log := strings.Join(logs, "\n")
	for _, want := range []string{"trained on tiny, the shards are other, another dataset", "normalization, mean 0.500000 std 0.250000 (the checkpoint's: mean 0.400000 std 0.300000)", "replacing the head fc2", "[w x y z]"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if slices.Equal(ft.Model.Head().Params()[0].Data, oldHead) {
		t.Error("the head was kept though the classes differ")
	}
	trainAll(t, ft)
	out := filepath.Join(t.TempDir(), CheckpointBase)
	if err := ft.Save(out); err != nil {
		t.Fatal(err)
	}
	got, err := checkpoint.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := got.Meta.Normalization; !n.Same([]float64{0.5}, []float64{0.25}) {
		t.Errorf("fine-tuned checkpoint records normalization %v/%v, want the new dataset's 0.5/0.25", n.Mean, n.Std)
	}
	if !slices.Equal(got.Meta.ClassNames, []string{"w", "x", "y", "z"}) || got.Meta.Dataset != "other" ||
		!slices.Equal(got.Meta.Sources, SourceDigests(other.Manifest)) {
		t.Errorf("fine-tuned checkpoint records classes %v dataset %q sources %v, want the new dataset's", got.Meta.ClassNames, got.Meta.Dataset, got.Meta.Sources)
	}
	conf, _, err := ft.Evaluate(t.Context(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if conf.Accuracy() < 0.8 {
		t.Errorf("fine-tuned on the other dataset, test accuracy only %.3f", conf.Accuracy())
	}

	// A checkpoint that does not record its sources (saved before they
	// were) cannot be told from one of the same data: refused as before.
	c.Meta.Sources = nil
	blind := filepath.Join(t.TempDir(), CheckpointBase)
	if err := checkpoint.Save(blind, c); err != nil {
		t.Fatal(err)
	}
	if _, err := Finetune(blind, other, mlpConfig(1), FinetuneOptions{}, logf); err == nil || !strings.Contains(err.Error(), "does not record its source files") {
		t.Errorf("checkpoint without sources, other normalization: %v", err)
	}
	if _, err := Finetune(blind, other, mlpConfig(1), FinetuneOptions{Renormalize: true}, logf); err != nil {
		t.Errorf("checkpoint without sources, --renormalize: %v", err)
	}
}

// The same classes keep the pretrained head unless NewHead asks for a fresh
// one, which is said.
func TestFinetuneNewHead(t *testing.T) {
	fixed := "normalize: {mode: fixed, mean: 0.4, std: 0.3}\n"
	base := datasetWith(t, fixed+"split: {seed: 1, val_fraction: 0.2}\n")
	same := otherDataset(t, "same-classes", "[a, b, c, d]", fixed+"split: {seed: 1, val_fraction: 0.2, per_class: 20}\n")
	pre, err := NewSession(mlpConfig(1), base, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	trainAll(t, pre)
	ck := filepath.Join(t.TempDir(), CheckpointBase)
	if err := pre.Save(ck); err != nil {
		t.Fatal(err)
	}
	head := func(s *Session) []float32 { return s.Model.Head().Params()[0].Data }
	for _, newHead := range []bool{false, true} {
		var logs []string
		logf := func(format string, a ...any) { logs = append(logs, fmt.Sprintf(format, a...)) }
		ft, err := Finetune(ck, same, mlpConfig(1), FinetuneOptions{NewHead: newHead}, logf)
		if err != nil {
			t.Fatal(err)
		}
		kept := slices.Equal(head(ft), head(pre))
		said := strings.Contains(strings.Join(logs, "\n"), "re-initialising the head fc2, as asked")
		if kept == newHead || said != newHead {
			t.Errorf("NewHead %v: head kept %v, re-initialisation reported %v (logs %q)", newHead, kept, said, logs)
		}
	}
}
