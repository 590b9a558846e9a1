#!/usr/bin/env bash
# Cross-dataset transfer: pretrain the ViT (or the CNN) on all of MNIST, then
# learn Fashion-MNIST, all ten classes, from k = 10 and k = 100 labelled
# images per class four ways, as bench/finetune/run.sh does for digits 5-9:
# from scratch, head only, full fine-tune, LoRA. Prints a Markdown table:
# accuracy on the full Fashion-MNIST test set (10,000 images; mean ± standard
# deviation over seeds) and seconds of training (mean).
#
#   bench/finetune/transfer.sh             the default ViT, three seeds
#   MODEL=cnn bench/finetune/transfer.sh   the CNN; LoRA on fc1
#   SEEDS=1 KS=10 ...                      fewer seeds, or one k
#
# The fine-tunes take a checkpoint of another dataset: trainer finetune
# replaces the head (Fashion-MNIST's classes are not MNIST's digits) and
# trains on Fashion-MNIST's own normalization, and says both (printed once
# per k below). Same budget and learning rates as run.sh: EPOCHS epochs
# (default 30) at batch size BATCH (default 10), Adam; the base is trained
# once (seed 1, PRE_EPOCHS epochs of the model's default recipe, default 3)
# and reused when WORK holds it. Per-run results go to stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/finetune/common.sh
work=${WORK:-$(mktemp -d)}
SEEDS=${SEEDS:-1 2 3}
KS=${KS:-10 100}
EPOCHS=${EPOCHS:-30}
BATCH=${BATCH:-10}
MODEL=${MODEL:-vit}
PRE_EPOCHS=${PRE_EPOCHS:-3}
setup mnist fashion-mnist-fewshot fashion-mnist-fewshot-k100
runs="$work/runs/$MODEL"; results="$work/results-$MODEL.txt"

if [ ! -f "$runs/base/checkpoint.json" ]; then
  pre=$("$T" --shards "$out/mnist" --model "$MODEL" --epochs "$PRE_EPOCHS" --seed 1 --out "$runs/base" --json --quiet | json)
  echo "pretrained $MODEL on MNIST ($PRE_EPOCHS epochs): MNIST test accuracy and seconds: $pre" >&2
fi

: >"$results"
common="--epochs $EPOCHS --batch-size $BATCH --json"
for k in $KS; do
  ds="$out/fashion-mnist-fewshot"; [ "$k" = 100 ] && ds="$out/fashion-mnist-fewshot-k100"
  for seed in $SEEDS; do
    record() { [ -n "$2" ] || exit 1; echo "$k|$1|$2" >>"$results"; echo "k=$k seed=$seed $1: $2" >&2; }
    record "from scratch" "$("$T" --shards "$ds" --model "$MODEL" --lr 3e-3 --seed "$seed" $common --quiet --out "$runs/scratch-$k-$seed" | json)"
    # Fine-tunes log what they make of the checkpoint: kept in NAME.log.
    ft() { local name=$1; shift; "$T" finetune --from "$runs/base" --shards "$ds" --seed "$seed" $common --out "$runs/$name" "$@" 2>"$runs/$name.log"; }
    record "head only (--freeze features)" "$(ft "head-$k-$seed" --freeze features --lr 3e-3 | json)"
    record "full fine-tune (--lr-head 3e-3 --lr-body 3e-4)" "$(ft "full-$k-$seed" --lr 3e-3 --lr-head 3e-3 --lr-body 3e-4 | json)"
    record "LoRA r=8 α=16 on $lora_on, head trained (--lr 3e-3)" "$(ft "lora-$k-$seed" --lora-rank 8 --lora-alpha 16 --lr 3e-3 --merge | json)"
    merged=$("$T" eval --checkpoint "$runs/lora-$k-$seed" --shards "$ds" --json | json)
    echo "k=$k seed=$seed LoRA merged into a plain checkpoint, trainer eval: ${merged% *}" >&2
  done
  grep -E '^trainer: (transfer|replacing)' "$runs/full-$k-${SEEDS%% *}.log" >&2
done

table "$results" "$(echo $SEEDS | wc -w)" "Fashion-MNIST, 10000 images"
