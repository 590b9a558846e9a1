#!/usr/bin/env bash
# Fine-tuning experiment: pretrain the CNN (or the ViT) on digits 0-4, then
# learn digits 5-9 from k = 10 and k = 100 images per class three ways (head
# only, full fine-tune, LoRA), against training the same network from scratch
# on the same k images. Prints a Markdown table: accuracy on the full 5-9 test
# split (mean ± standard deviation over seeds) and seconds of training (mean).
#
#   bench/finetune/run.sh                  the CNN, three seeds (about 10 minutes on 2 cores)
#   SEEDS=1 bench/finetune/run.sh          one seed
#   MODEL=vit bench/finetune/run.sh        the default ViT (trainer --model vit), pretrained
#                                          PRE_EPOCHS epochs (default 3); LoRA on attn.qkv and attn.proj
#
# Every row gets the same budget: EPOCHS epochs (default 30) at batch size
# BATCH (default 10), Adam. Learning rates: from scratch 3e-3; head only
# 3e-3; full fine-tune 3e-3 for the new head and 3e-4 for the pretrained
# body; LoRA 3e-3 for the head and the adapters. The seed changes the
# initialisation (from scratch), the new head, the adapters, shuffling and
# dropout; the base model (pretrained once, seed 1) and the k images (fixed
# by the dataset configs) are the same for every seed. Per-run results go to
# stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${WORK:-$(mktemp -d)}
SEEDS=${SEEDS:-1 2 3}
EPOCHS=${EPOCHS:-30}
BATCH=${BATCH:-10}
MODEL=${MODEL:-cnn}
PRE_EPOCHS=${PRE_EPOCHS:-3}
case $MODEL in
  cnn) lora_on="fc1" ;;
  vit) lora_on="attn.qkv+attn.proj" ;;
  *) echo "MODEL must be cnn or vit, got $MODEL" >&2; exit 2 ;;
esac
go build -o "$work/prep" ./cmd/prep
go build -o "$work/trainer" ./cmd/trainer
P="$work/prep"; T="$work/trainer"; out="$work/out"; runs="$work/runs"; results="$work/results.txt"
for c in mnist-0to4 mnist-5to9-fewshot mnist-5to9-fewshot-k100; do
  "$P" run "configs/$c.yaml" --out "$out" --quiet >/dev/null
done
# json prints "accuracy seconds" from the last line of a --json report.
json() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print("%.4f %.2f" % (d.get("test_accuracy", d.get("accuracy", 0)), d.get("seconds_per_epoch", 0)*d.get("epochs", 0)))'; }

if [ ! -f "$runs/base/checkpoint.json" ]; then
  pre=$("$T" --shards "$out/mnist-0to4" --model "$MODEL" --epochs "$PRE_EPOCHS" --seed 1 --out "$runs/base" --json --quiet | json)
  echo "pretrained $MODEL on 0-4 ($PRE_EPOCHS epochs): test accuracy on 0-4 and seconds: $pre" >&2
fi

: >"$results"
common="--epochs $EPOCHS --batch-size $BATCH --json --quiet"
for k in 10 100; do
  ds="$out/mnist-5to9-fewshot"; [ "$k" = 100 ] && ds="$out/mnist-5to9-fewshot-k100"
  for seed in $SEEDS; do
    record() { [ -n "$2" ] || exit 1; echo "$k|$1|$2" >>"$results"; echo "k=$k seed=$seed $1: $2" >&2; }
    record "from scratch" "$("$T" --shards "$ds" --model "$MODEL" --lr 3e-3 --seed "$seed" $common --out "$runs/scratch-$k-$seed" | json)"
    ft=("$T" finetune --from "$runs/base" --shards "$ds" --seed "$seed" $common)
    record "head only (--freeze features)" "$("${ft[@]}" --freeze features --lr 3e-3 --out "$runs/head-$k-$seed" | json)"
    record "full fine-tune (--lr-head 3e-3 --lr-body 3e-4)" "$("${ft[@]}" --lr 3e-3 --lr-head 3e-3 --lr-body 3e-4 --out "$runs/full-$k-$seed" | json)"
    record "LoRA r=8 α=16 on $lora_on, head trained (--lr 3e-3)" "$("${ft[@]}" --lora-rank 8 --lora-alpha 16 --lr 3e-3 --merge --out "$runs/lora-$k-$seed" | json)"
    merged=$("$T" eval --checkpoint "$runs/lora-$k-$seed" --shards "$ds" --json | json)
    echo "k=$k seed=$seed LoRA merged into a plain checkpoint, trainer eval: ${merged% *}" >&2
  done
done

n=$(echo $SEEDS | wc -w)
python3 - "$results" "$n" <<'EOF'
import statistics as st, sys
rows = {}
for line in open(sys.argv[1]):
    k, method, res = line.rstrip("\n").split("|")
    acc, secs = map(float, res.split())
    rows.setdefault((k, method), []).append((acc, secs))
n = int(sys.argv[2])
print("| k per class | method | test accuracy (5-9, 4861 images, %s) | seconds |" % ("%d seeds, mean ± sd" % n if n > 1 else "1 seed"))
print("|---|---|---|---|")
for (k, method), v in rows.items():
    accs = [a for a, _ in v]
    acc = "%.4f" % st.mean(accs) + (" ± %.4f" % st.stdev(accs) if len(accs) > 1 else "")
    print("| %s | %s | %s | %.1f |" % (k, method, acc, st.mean(s for _, s in v)))
EOF
