package interop

import (
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/shardsmith/shardsmith/trainer"
	"github.com/shardsmith/shardsmith/trainer/checkpoint"
	"github.com/shardsmith/shardsmith/trainer/nn"
)

// TestViTLoRALoadsIntoPEFT adapts a ViT with LoRA on the attention
// projections and the first MLP layer, writes the adapters in PEFT's layout
// with the code that `trainer finetune --lora-rank` uses (trainer.ExportPEFT),
// and has timm/peft_check.py load the base weights into timm's
// VisionTransformer, zero its head (which must then come from the adapter's
// modules_to_save), put the adapters on with peft.PeftModel.from_pretrained
// and compare the logits with ours. The same
// Python as TestViTLoadsIntoTimm (SHARDSMITH_TIMM_PYTHON), which also needs
// peft here; skipped without it. interop/timm/requirements.txt pins the
// versions.
func TestViTLoRALoadsIntoPEFT(t *testing.T) {
	py := timmPython(t, "peft")
	cfg := nn.ViTConfig{Patch: 4, Dim: 32, Depth: 2, Heads: 2, MLPRatio: 2}
	m, err := nn.ViT([]int{1, 28, 28}, 10, cfg, nn.WithSeed(3))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	perturb(m, rng)
	const rank, alpha = 4, 8
	if err := m.AddLoRA([]string{"attn.qkv", "attn.proj", "mlp.fc1"}, rank, alpha, 3); err != nil {
		t.Fatal(err)
	}
	// B starts at zero; random adapters make every one of them change the logits.
	for _, a := range m.Adapters() {
		for i := range a.B.Data {
			a.B.Data[i] = float32(0.3 * rng.NormFloat64())
		}
	}
	dir := t.TempDir()
	ck := filepath.Join(dir, "checkpoint")
	c, err := checkpoint.Capture(m, nil, checkpoint.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.Save(ck, c); err != nil {
		t.Fatal(err)
	}
	adapter := filepath.Join(dir, "peft")
	if err := trainer.ExportPEFT(ck, adapter); err != nil {
		t.Fatal(err)
	}
	inputs := writeInputs(t, m, rng, dir)
	out, err := exec.Command(py, filepath.Join("timm", "peft_check.py"), ck+".json", adapter, inputs).Output()
	if err != nil {
		t.Fatalf("peft_check.py: %v\n%s", err, out)
	}
	var rep struct {
		PEFT, Timm      string
		LoRALayers      int     `json:"lora_layers"`
		KeysMatch       bool    `json:"keys_match"`
		MaxAbsDiff      float64 `json:"max_abs_diff"`
		MaxAbsDiffNoAda float64 `json:"max_abs_diff_without_lora"`
		MaxAbsLogit     float64 `json:"max_abs_logit"`
		ArgmaxAgree     int     `json:"argmax_agree"`
		N               int     `json:"n"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("peft_check.py output %q: %v", out, err)
	}
	t.Logf("peft %s, timm %s: %d LoRA layers; max |logit difference| %.3g with the adapter, %.3g with the base model and our head but no LoRA; max |logit| %.3g; argmax agrees on %d/%d",
		rep.PEFT, rep.Timm, rep.LoRALayers, rep.MaxAbsDiff, rep.MaxAbsDiffNoAda, rep.MaxAbsLogit, rep.ArgmaxAgree, rep.N)
	if want := 3 * cfg.Depth; rep.LoRALayers != want {
		t.Errorf("PEFT put adapters on %d layers, want %d (attn.qkv, attn.proj, mlp.fc1 of %d blocks)", rep.LoRALayers, want, cfg.Depth)
	}
	if !rep.KeysMatch {
		t.Error("PEFT's state dict of the loaded adapter differs from adapter_model.safetensors (names or values)")
	}
	if rep.MaxAbsLogit < 0.5 || rep.MaxAbsDiffNoAda < 0.1*rep.MaxAbsLogit {
		t.Fatalf("the LoRA adapters change the logits by only %g (max |logit| %g): the comparison would mean nothing", rep.MaxAbsDiffNoAda, rep.MaxAbsLogit)
	}
	if rep.MaxAbsDiff > 1e-4*max(1, rep.MaxAbsLogit) || rep.ArgmaxAgree != rep.N {
		t.Errorf("PEFT's logits differ from ours by up to %g (max |logit| %g), argmax agrees on %d/%d", rep.MaxAbsDiff, rep.MaxAbsLogit, rep.ArgmaxAgree, rep.N)
	}
}
