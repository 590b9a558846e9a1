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
. bench/finetune/common.sh
work=${WORK:-$(mktemp -d)}
SEEDS=${SEEDS:-1 2 3}
EPOCHS=${EPOCHS:-30}
BATCH=${BATCH:-10}
MODEL=${MODEL:-cnn}
PRE_EPOCHS=${PRE_EPOCHS:-3}
setup mnist-0to4 mnist-5to9-fewshot mnist-5to9-fewshot-k100
runs="$work/runs"; results="$work/results.txt"

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

table "$results" "$(echo $SEEDS | wc -w)" "5-9, 4861 images"
