//go:build unix

package reliability

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var vitSection = addSection(116, "Vision Transformer flags",
	"`--patch`, `--dim`, `--depth`, `--heads`, `--mlp-ratio` and `--drop-path` shape `--model vit` and nothing else: given for another "+
		"model, or in a combination no ViT can have, they are usage errors before anything is written; a patch that does not divide "+
		"the shards' images is refused when the model is built, before the run directory exists. A resume checks them against "+
		"the checkpoint like every other flag.",
	func() int { return len(vitCases) })

var vitCases = []struct {
	name   string
	resume bool     // run on a copy of the 2-epoch MLP run, which must stay unchanged
	args   []string // $SHARDS and $RUN are replaced
	code   int
	want   string
}{
	{"ViT flag for the MLP", false, []string{"--shards", "$SHARDS", "--model", "mlp", "--heads", "8", "--out", "$RUN"}, 2,
		"--heads 8: shape a Vision Transformer and apply to --model vit only, not --model mlp"},
	{"width not a multiple of the heads", false, []string{"--shards", "$SHARDS", "--model", "vit", "--dim", "30", "--heads", "4", "--out", "$RUN"}, 2,
		"--dim 30 --heads 4: the token width must be a multiple of the head count"},
	{"drop-path rate of 1", false, []string{"--shards", "$SHARDS", "--model", "vit", "--drop-path", "1", "--out", "$RUN"}, 2,
		`invalid value "1" for flag -drop-path: want a finite number ≥ 0 and < 1`},
	{"patch that does not divide the images", false, []string{"--shards", "$SHARDS", "--model", "vit", "--patch", "3", "--out", "$RUN"}, 1,
		"ViT patch 3 does not divide the 8x8 input"},
	{"resume an MLP run with ViT heads", true, []string{"--shards", "$SHARDS", "--resume", "$RUN", "--epochs", "3", "--heads", "8"}, 2,
		"--heads 8: the checkpoint in $RUN was trained with --heads (none: model mlp)"},
}

func TestViTFlags(t *testing.T) {
	trainSetup(t)
	for i, c := range vitCases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			run := filepath.Join(e.data, "run")
			var before string
			if c.resume {
				copyDir(t, runDir, run)
				before = treeDigest(t, run)
			}
			e.name(run, "$RUN")
			e.name(trainShards, "$SHARDS")
			e.name(trainDir, "$DATA")
			var args []string
			for _, a := range c.args {
				args = append(args, strings.ReplaceAll(strings.ReplaceAll(a, "$SHARDS", trainShards), "$RUN", run))
			}
			r := e.run(trainerBin, args...)
			wantCode(t, r, c.code)
			msg := e.scrub(r.stderr)
			if !strings.Contains(msg, c.want) {
				t.Fatalf("message lacks %q:\n%s", c.want, msg)
			}
			disk := "nothing written"
			if c.resume {
				if treeDigest(t, run) != before {
					t.Fatal("a refused resume changed the run directory")
				}
				disk = "the run and its checkpoint unchanged"
			} else if _, err := os.Stat(run); err == nil {
				t.Fatalf("a refused command line created %s", run)
			}
			vitSection.record(t, i, Row{Case: c.name, Injected: "`trainer " + e.scrub(strings.Join(args, " ")) + "`",
				Exit: r.code, Sees: e.scrub(lineWith(r.stderr, firstWord(c.want))), Disk: disk})
		})
	}
}

// firstWord is the start of a wanted message, to find its line in stderr.
func firstWord(s string) string {
	if i := strings.IndexByte(s, ':'); i > 0 {
		return s[:i]
	}
	return s
}
