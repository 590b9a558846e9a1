//go:build unix

package reliability

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var flagSection = addSection(110, "Flags",
	"Every numeric flag of `prep` and `trainer` checks its value as it is parsed: NaN, ±Inf, negatives, zero where it means nothing, "+
		"fractions for integers and values past a sane bound are usage errors naming the flag, the value and what is accepted, "+
		"before anything is read or written. (`cmd/prep` and `cmd/trainer` also try every flag of every command with NaN, ±Inf, -1, 0, 1e308, 2⁶³, \"\" and garbage.)",
	func() int { return len(flagCases) })

var flagCases = []struct {
	name string
	prep bool     // a prep command, else trainer
	args []string // $CFG, $SHARDS and $RUN are replaced
	want string   // in the message
}{
	{"NaN learning rate", false, []string{"--shards", "$SHARDS", "--lr", "NaN", "--out", "$RUN"}, `invalid value "NaN" for flag -lr: want a finite number > 0`},
	{"zero learning rate", false, []string{"--shards", "$SHARDS", "--lr", "0", "--out", "$RUN"}, `invalid value "0" for flag -lr`},
	{"momentum of 1", false, []string{"--shards", "$SHARDS", "--optimizer", "sgd", "--momentum", "1", "--out", "$RUN"}, `invalid value "1" for flag -momentum: want a finite number ≥ 0 and < 1`},
	{"epochs 1e308", false, []string{"--shards", "$SHARDS", "--epochs", "1e308", "--out", "$RUN"}, `invalid value "1e308" for flag -epochs: want an integer from 1 to 1000000`},
	{"batch size 0", false, []string{"--shards", "$SHARDS", "--batch-size", "0", "--out", "$RUN"}, `invalid value "0" for flag -batch-size`},
	{"batch size 2⁶³", false, []string{"--shards", "$SHARDS", "--batch-size", "9223372036854775808", "--out", "$RUN"}, `for flag -batch-size: want an integer from 1 to 65536`},
	{"hidden width 0", false, []string{"--shards", "$SHARDS", "--hidden", "64,0", "--out", "$RUN"}, `invalid value "64,0" for flag -hidden`},
	{"-Inf warm-up", false, []string{"--shards", "$SHARDS", "--warmup-epochs", "-Inf", "--out", "$RUN"}, `invalid value "-Inf" for flag -warmup-epochs`},
	{"negative head rate in finetune", false, []string{"finetune", "--from", "$RUN", "--shards", "$SHARDS", "--lr-head", "-1e-3", "--out", "$RUN"}, `invalid value "-1e-3" for flag -lr-head: want a finite number ≥ 0`},
	{"negative worker count", true, []string{"run", "$CFG", "--workers", "-1"}, `invalid value "-1" for flag -workers: want an integer from 0 to 4096`},
	{"preview of 0 rows", true, []string{"preview", "$SHARDS", "-n", "0", "-o", "$RUN/grid.png"}, `invalid value "0" for flag -n`},
	{"preview upscaled 1e9 times", true, []string{"preview", "$SHARDS", "--scale", "1000000000", "-o", "$RUN/grid.png"}, `invalid value "1000000000" for flag -scale: want an integer from 1 to 64`},
}

func TestFlagValues(t *testing.T) {
	trainSetup(t)
	for i, c := range flagCases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			run := filepath.Join(e.data, "run")
			e.name(run, "$RUN")
			e.name(trainShards, "$SHARDS")
			e.name(trainDir, "$DATA")
			cfg := e.writeConfig(small(t), "tiny", "")
			var args []string
			for _, a := range c.args {
				a = strings.ReplaceAll(a, "$SHARDS", trainShards)
				a = strings.ReplaceAll(a, "$RUN", run)
				args = append(args, strings.ReplaceAll(a, "$CFG", cfg))
			}
			bin, prefix := trainerBin, "trainer"
			if c.prep {
				bin, prefix = prepBin, "prep"
			}
			r := e.run(bin, args...)
			wantCode(t, r, 2)
			msg := lineWith(r.stderr, "invalid value")
			if !strings.Contains(msg, c.want) {
				t.Fatalf("message %q, want %q\n%s", msg, c.want, r.stderr)
			}
			if _, err := os.Stat(run); err == nil {
				t.Fatalf("a refused command line created %s", run)
			}
			if c.prep {
				e.state("tiny").clean(t)
			}
			flagSection.record(t, i, Row{Case: c.name, Injected: "`" + prefix + " " + e.scrub(strings.Join(args, " ")) + "`",
				Exit: r.code, Sees: e.scrub(msg), Disk: "nothing written"})
		})
	}
}

var resumeSection = addSection(115, "Resume and fine-tune with conflicting flags",
	"`trainer --resume RUN` continues RUN exactly as its checkpoint recorded it (model, widths, batch size, optimizer and its "+
		"hyper-parameters, schedule, seed, shuffle window); only `--epochs`, `--shards`, `--json`, `--quiet` and `--cpuprofile` apply, "+
		"as `trainer --help` says. `trainer finetune` keeps the architecture of `--from` and starts a new run. A flag that asks for "+
		"something else is refused, saying what the checkpoint holds and how to start a new run; the run is left as it was.",
	func() int { return len(resumeCases) })

var resumeCases = []struct {
	name string
	args []string // after the command; $RUN is the run, $SHARDS its version
	want []string // in the message
}{
	{"resume with another batch size", []string{"--shards", "$SHARDS", "--resume", "$RUN", "--epochs", "3", "--batch-size", "64"},
		[]string{"--batch-size 64: the checkpoint in $RUN was trained with --batch-size 32", "start a new run: trainer --shards $SHARDS --batch-size 64 --out runs/NEW"}},
	{"resume with another model", []string{"--shards", "$SHARDS", "--resume", "$RUN", "--epochs", "3", "--model", "cnn"},
		[]string{"--model cnn: the checkpoint in $RUN was trained with --model mlp"}},
	{"resume with other hidden widths", []string{"--shards", "$SHARDS", "--resume", "$RUN", "--epochs", "3", "--hidden", "64,32"},
		[]string{"--hidden 64,32: the checkpoint in $RUN was trained with --hidden 32"}},
	{"resume with another optimizer and rate", []string{"--shards", "$SHARDS", "--resume", "$RUN", "--epochs", "3", "--optimizer", "sgd", "--lr", "0.1"},
		[]string{"--optimizer sgd: the checkpoint in $RUN was trained with --optimizer adam", "--lr 0.1: the checkpoint in $RUN was trained with --lr 0.001"}},
	{"resume with another seed", []string{"--shards", "$SHARDS", "--resume", "$RUN", "--epochs", "3", "--seed", "9"},
		[]string{"--seed 9: the checkpoint in $RUN was trained with --seed 1"}},
	{"resume into another directory", []string{"--shards", "$SHARDS", "--resume", "$RUN", "--epochs", "3", "--out", "$RUN-copy"},
		[]string{"--out $RUN-copy: --resume $RUN continues that run in its own directory"}},
	{"fine-tune with other hidden widths", []string{"finetune", "--from", "$RUN", "--shards", "$SHARDS", "--hidden", "64", "--out", "$RUN-copy"},
		[]string{"--hidden 64: the --from checkpoint $RUN holds --hidden 32", "fine-tuning keeps the architecture of --from (mlp, hidden 32)"}},
	{"fine-tune with --resume", []string{"finetune", "--from", "$RUN", "--shards", "$SHARDS", "--resume", "$RUN", "--out", "$RUN-copy"},
		[]string{"--resume $RUN: fine-tuning starts a new run from --from; continue a fine-tuning run with: trainer --shards $SHARDS --resume $RUN"}},
}

func TestResumeConflictingFlags(t *testing.T) {
	trainSetup(t)
	for i, c := range resumeCases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			run := filepath.Join(e.data, "run")
			copyDir(t, runDir, run)
			e.name(run, "$RUN")
			e.name(trainShards, "$SHARDS")
			e.name(trainDir, "$DATA")
			before := treeDigest(t, run)
			var args []string
			for _, a := range c.args {
				args = append(args, strings.ReplaceAll(strings.ReplaceAll(a, "$SHARDS", trainShards), "$RUN", run))
			}
			r := e.run(trainerBin, args...)
			wantCode(t, r, 2)
			msg := e.scrub(r.stderr)
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("message lacks %q:\n%s", w, msg)
				}
			}
			if treeDigest(t, run) != before {
				t.Fatal("a refused command changed the run directory")
			}
			if _, err := os.Stat(run + "-copy"); err == nil {
				t.Fatal("a refused command created a run directory")
			}
			resumeSection.record(t, i, Row{Case: c.name, Injected: "`trainer " + e.scrub(strings.Join(args, " ")) + "` on a 2-epoch run",
				Exit: r.code, Sees: msg, Disk: "the run and its checkpoint unchanged; no new run directory"})
		})
	}
}

// treeDigest hashes the names and contents of every file under dir, so a
// case can tell that nothing in a run directory changed, whatever files the
// checkpoint is made of.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h.Write([]byte(rel + "\x00"))
		h.Write(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
