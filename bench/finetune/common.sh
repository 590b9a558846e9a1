# Shared by the fine-tuning scripts (sourced, not run).

# json prints "accuracy seconds" from the last line of a --json report:
# test accuracy (or eval's accuracy) and seconds of training.
json() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print("%.4f %.2f" % (d.get("test_accuracy", d.get("accuracy", 0)), d.get("seconds_per_epoch", 0)*d.get("epochs", 0)))'; }

# table RESULTS SEEDS LABEL prints the Markdown table of RESULTS (lines
# "k|method|accuracy seconds"): mean ± standard deviation over the seeds,
# mean seconds. LABEL names the test set in the accuracy column's heading.
table() {
  python3 - "$1" "$2" "$3" <<'PY'
import statistics as st, sys
rows = {}
for line in open(sys.argv[1]):
    k, method, res = line.rstrip("\n").split("|")
    acc, secs = map(float, res.split())
    rows.setdefault((k, method), []).append((acc, secs))
n = int(sys.argv[2])
print("| k per class | method | test accuracy (%s, %s) | seconds |" % (sys.argv[3], "%d seeds, mean ± sd" % n if n > 1 else "1 seed"))
print("|---|---|---|---|")
for (k, method), v in rows.items():
    accs = [a for a, _ in v]
    acc = "%.4f" % st.mean(accs) + (" ± %.4f" % st.stdev(accs) if len(accs) > 1 else "")
    print("| %s | %s | %s | %.1f |" % (k, method, acc, st.mean(s for _, s in v)))
PY
}

# setup CONFIG... checks MODEL, sets lora_on (the layers LoRA adapts), builds
# prep and trainer into $work (P, T) and the listed configs into $work/out.
setup() {
  case $MODEL in
    cnn) lora_on="fc1" ;;
    vit) lora_on="attn.qkv+attn.proj" ;;
    *) echo "MODEL must be cnn or vit, got $MODEL" >&2; exit 2 ;;
  esac
  go build -o "$work/prep" ./cmd/prep
  go build -o "$work/trainer" ./cmd/trainer
  P="$work/prep"; T="$work/trainer"; out="$work/out"
  local c
  for c in "$@"; do
    "$P" run "configs/$c.yaml" --out "$out" --quiet >/dev/null
  done
}
