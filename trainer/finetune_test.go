package trainer

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
