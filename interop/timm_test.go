package interop

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/trainer/checkpoint"
	"github.com/shardsmith/shardsmith/trainer/nn"
)

// EnvTimmPython names a Python that has torch, timm and safetensors for
// TestViTLoadsIntoTimm (default: python3, if it can import them).
const EnvTimmPython = "SHARDSMITH_TIMM_PYTHON"

// TestViTLoadsIntoTimm saves ViT checkpoints (the default hyper-parameters
// on 28×28 digits and another shape, weights moved away from their
// initialisation so that every layer matters) and has timm/vit_check.py load it strictly into
// timm's VisionTransformer and compare logits on the same inputs. Skipped
// where no Python with timm is at hand.
func TestViTLoadsIntoTimm(t *testing.T) {
	py := timmPython(t)
	for _, tc := range []struct {
		name string
		cfg  nn.ViTConfig
	}{
		{"default", nn.DefaultViT},
		// Three heads of 16, timm's ImageNet MLP ratio, 16 tokens of 7×7.
		{"patch7-dim48-heads3-ratio4", nn.ViTConfig{Patch: 7, Dim: 48, Depth: 2, Heads: 3, MLPRatio: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) { checkTimm(t, py, tc.cfg) })
	}
}

// TestPyTorchTwinIsOurViT loads a default ViT checkpoint strictly into the
// ViT of the trainer benchmark's PyTorch twin (bench/train/pytorch_mnist.py)
// and compares logits: the epoch ratio of bench/train/run.sh compares the
// same network.
func TestPyTorchTwinIsOurViT(t *testing.T) {
	py := timmPython(t)
	checkTimm(t, py, nn.DefaultViT, "--twin", filepath.Join("..", "bench", "train", "pytorch_mnist.py"))
}

// timmPython returns the Python of EnvTimmPython (default python3), or
// skips the test when it cannot import torch, timm, safetensors and the
// extra modules named (fails it under CI=true, where .ci/run installs them).
func timmPython(t *testing.T, extra ...string) string {
	t.Helper()
	py := os.Getenv(EnvTimmPython)
	if py == "" {
		py = "python3"
	}
	mods := strings.Join(append([]string{"torch", "timm", "safetensors"}, extra...), ", ")
	if out, err := exec.Command(py, "-c", "import "+mods).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("%s cannot import %s (set %s; see interop/timm/requirements.txt): %v\n%s", py, mods, EnvTimmPython, err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg) // .ci/run installs them: a skip there would hide a broken install
		}
		t.Skip(msg)
	}
	return py
}

// perturb moves a model's weights away from their initialisation (norm
// scales around 1, embeddings of unit-ish size, the rest shifted), so that
// every layer matters in a comparison of logits.
func perturb(m *nn.Sequential, rng *rand.Rand) {
	for _, p := range m.Params() {
		for i := range p.Data {
			v := float32(rng.NormFloat64())
			switch {
			case strings.Contains(p.Name, "norm") && strings.HasSuffix(p.Name, ".weight"):
				p.Data[i] = 1 + 0.3*v
			case p.Name == "cls_token" || p.Name == "pos_embed":
				p.Data[i] = 0.5 * v
			default:
				p.Data[i] += 0.1 * v
			}
		}
	}
}

func checkTimm(t *testing.T, py string, cfg nn.ViTConfig, args ...string) {
	m, err := nn.ViT([]int{1, 28, 28}, 10, cfg, nn.WithSeed(3))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	perturb(m, rng)
	dir := t.TempDir()
	ck := filepath.Join(dir, "checkpoint")
	c, err := checkpoint.Capture(m, nil, checkpoint.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.Save(ck, c); err != nil {
		t.Fatal(err)
	}
	inputs := writeInputs(t, m, rng, dir)
	out, err := exec.Command(py, append([]string{filepath.Join("timm", "vit_check.py"), ck + ".json", inputs}, args...)...).Output()
	if err != nil {
		t.Fatalf("vit_check.py: %v\n%s", err, out)
	}
	var rep struct {
		Timm        string  `json:"timm"`
		MaxAbsDiff  float64 `json:"max_abs_diff"`
		MaxAbsLogit float64 `json:"max_abs_logit"`
		ArgmaxAgree int     `json:"argmax_agree"`
		N           int     `json:"n"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("vit_check.py output %q: %v", out, err)
	}
	t.Logf("timm %s: max |logit difference| %.3g, max |logit| %.3g, argmax agrees on %d/%d", rep.Timm, rep.MaxAbsDiff, rep.MaxAbsLogit, rep.ArgmaxAgree, rep.N)
	if rep.MaxAbsLogit < 0.5 {
		t.Fatalf("logits of magnitude %g are too small for the comparison to mean anything", rep.MaxAbsLogit)
	}
	if rep.MaxAbsDiff > 1e-4*max(1, rep.MaxAbsLogit) || rep.ArgmaxAgree != rep.N {
		t.Errorf("timm's logits differ from ours by up to %g (max |logit| %g), argmax agrees on %d/%d", rep.MaxAbsDiff, rep.MaxAbsLogit, rep.ArgmaxAgree, rep.N)
	}
}

// writeInputs writes a batch of 8 random 28×28 images and our model's
// logits for them to DIR/inputs.safetensors, for a Python side to compare.
func writeInputs(t *testing.T, m *nn.Sequential, rng *rand.Rand, dir string) string {
	t.Helper()
	x := nn.NewTensor(8, 1, 28, 28)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	y, err := m.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	inputs := filepath.Join(dir, "inputs.safetensors")
	if err := checkpoint.WriteSafetensors(inputs, []checkpoint.Tensor{
		{Name: "x", Shape: x.Shape, Data: x.Data},
		{Name: "logits", Shape: y.Shape, Data: y.Data},
	}, nil); err != nil {
		t.Fatal(err)
	}
	return inputs
}
