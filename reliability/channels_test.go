//go:build unix

package reliability

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/tinyset"
)

var colour = addSection(115, "Colour images",
	"Sets of several channels per pixel (IDX items of shape H×W×C) go through every stage; these are the cases "+
		"a channel count refuses. The trainer's checkpoint records the image shape it was trained on, so shards of "+
		"another shape are refused even when their images hold as many values (4×4×4 and 8×8×1 are both 64).",
	func() int { return len(colourCases) })

type colourCase struct {
	name, injected string
	run            func(t *testing.T, e *env) (r result, prefix string, want []string, disk string)
}

// colourSet writes a side×side set of the given channels into the case's
// data directory and returns the config path.
func colourSet(t *testing.T, e *env, side, channels int, extra string) string {
	t.Helper()
	set, err := tinyset.Write(e.data, tinyset.Spec{Train: 200, Test: 50, Side: side, Channels: channels, Classes: 3, Seed: 7, Learnable: true})
	if err != nil {
		t.Fatal(err)
	}
	return e.writeConfig(set, "rgb", "classes: [a, b, c]\nsplit: {seed: 1, val_fraction: 0.2}\n"+extra)
}

var colourCases = []colourCase{
	{name: "fixed normalization, wrong count", injected: "a 3-channel set with `normalize: {mode: fixed, mean: [0.1, 0.2], std: 0.5}`",
		run: func(t *testing.T, e *env) (result, string, []string, string) {
			r := e.prepRun(colourSet(t, e, 6, 3, "normalize: {mode: fixed, mean: [0.1, 0.2], std: 0.5}\n"))
			s := e.state("rgb")
			s.clean(t)
			return r, "prep: ", []string{"rgb.yaml:", "normalize.mean: 2 values for 3 channels"}, s.String()
		}},
	{name: "preview of 4 channels", injected: "`prep preview` of a version whose images have 4 channels",
		run: func(t *testing.T, e *env) (result, string, []string, string) {
			wantCode(t, e.prepRun(colourSet(t, e, 6, 4, "")), 0)
			grid := filepath.Join(e.data, "grid.png")
			r := e.run(prepBin, "preview", e.out, "-o", grid)
			if _, err := os.Stat(grid); err == nil {
				t.Fatal("a refused preview wrote its grid")
			}
			s := e.state("rgb")
			s.published(t)
			return r, "prep: ", []string{"4 channels", "gray (1-channel) or RGB (3-channel)"}, s.String() + ", no grid file"
		}},
	{name: "finetune on another image shape", injected: "`trainer finetune --from` a run trained on 4×4×4 images, `--shards` of 8×8×1 images (64 values each too)",
		run: func(t *testing.T, e *env) (result, string, []string, string) {
			return otherShape(t, e, "finetune")
		}},
	{name: "eval on another image shape", injected: "`trainer eval --checkpoint` of a run trained on 4×4×4 images, `--shards` of 8×8×1 images",
		run: func(t *testing.T, e *env) (result, string, []string, string) {
			return otherShape(t, e, "eval")
		}},
}

// otherShape trains a run on 4×4×4 images and points cmd at the trainer
// cases' 8×8×1 version.
func otherShape(t *testing.T, e *env, cmd string) (result, string, []string, string) {
	trainSetup(t)
	wantCode(t, e.prepRun(colourSet(t, e, 4, 4, "")), 0)
	run := filepath.Join(e.data, "run")
	e.name(run, "$RUN")
	e.name(trainShards, "$SHARDS")
	wantCode(t, e.run(trainerBin, "--shards", e.out, "--model", "mlp", "--hidden", "16", "--epochs", "1", "--out", run, "--quiet"), 0)
	var r result
	ft := filepath.Join(e.data, "ft")
	if cmd == "finetune" {
		r = e.run(trainerBin, "finetune", "--from", run, "--shards", trainShards, "--renormalize", "--epochs", "1", "--out", ft, "--quiet")
	} else {
		r = e.run(trainerBin, "eval", "--checkpoint", run, "--shards", trainShards)
	}
	disk := "the run is untouched"
	if cmd == "finetune" {
		if _, err := os.Stat(ft); err == nil {
			ents, _ := os.ReadDir(ft)
			if len(ents) > 0 {
				t.Fatalf("a refused finetune left %d entries in its run directory", len(ents))
			}
		}
		disk += "; no fine-tuned run"
	}
	return r, "trainer: ", []string{"trained on 4x4x4 images (height x width x channels), the shards hold 8x8x1"}, disk
}

func TestColourImages(t *testing.T) {
	for i, c := range colourCases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			r, prefix, want, disk := c.run(t, e)
			wantCode(t, r, 1)
			msg := finalError(r.stderr, prefix)
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Fatalf("message %q lacks %q", msg, w)
				}
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Fatalf("panic:\n%s", r.stderr)
			}
			colour.record(t, i, Row{Case: c.name, Injected: c.injected, Exit: r.code, Sees: e.scrub(msg), Disk: disk})
		})
	}
}
