#!/usr/bin/python3
"""Loads a shardsmith LoRA adapter, exported in PEFT's layout, with PEFT onto
timm's VisionTransformer and compares the logits with shardsmith's.

Usage: peft_check.py CHECKPOINT_JSON ADAPTER_DIR INPUTS_SAFETENSORS

CHECKPOINT_JSON is the sidecar of the adapted checkpoint (its weights file
holds the base weights and the adapters). ADAPTER_DIR holds
adapter_config.json and adapter_model.safetensors as `trainer finetune
--lora-rank` writes them. INPUTS_SAFETENSORS holds "x" and the "logits"
shardsmith computed. The base model is built from the checkpoint's base
weights (the lora_ tensors left out) loaded strictly; its logits there show
what the LoRA adapters change. Then its head is zeroed, so that the head has
to come from the adapter (modules_to_save), and
peft.PeftModel.from_pretrained(model, ADAPTER_DIR) puts the adapters on.
Prints one JSON line: versions, the number of LoRA layers PEFT made, whether
PEFT's adapter state dict equals the file (names and values), the max
absolute logit difference with the adapter and without the LoRA deltas, the largest logit
magnitude and how many argmaxes agree. Exits 1 when the base weights do not
load strictly.

Needs torch, timm, peft and safetensors (interop/timm/requirements.txt).
"""
import json, os, sys

import torch
import timm
import peft
from peft import PeftModel, get_peft_model_state_dict
from peft.tuners.lora import LoraLayer
from timm.models.vision_transformer import VisionTransformer
from safetensors.torch import load_file


def main():
    sidecar, adapter_dir, inputs = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(sidecar) as f:
        meta = json.load(f)
    arch = meta["arch"]
    layers = {l["name"]: l for l in arch["layers"]}
    blocks = [l for l in arch["layers"] if l["type"] == "vit_block"]
    pe, head = layers["patch_embed"], layers["head"]
    c, h, w = arch["input"]
    model = VisionTransformer(
        img_size=(h, w), patch_size=pe["kernel"], in_chans=c, num_classes=head["out"],
        embed_dim=pe["out"], depth=len(blocks), num_heads=blocks[0]["heads"],
        mlp_ratio=blocks[0]["hidden"] / pe["out"], global_pool="token")
    weights = load_file(os.path.join(os.path.dirname(sidecar), meta["weights"]["name"]))
    base = {k: v for k, v in weights.items() if ".lora_" not in k}
    try:
        model.load_state_dict(base, strict=True)
    except RuntimeError as e:
        print(json.dumps({"error": str(e)}))
        sys.exit(1)
    model.eval()
    t = load_file(inputs)
    want = t["logits"]
    with torch.no_grad():
        plain = model(t["x"])  # the base model with our head: what the LoRA adapters change
        model.head.weight.zero_()
        model.head.bias.zero_()
    model = PeftModel.from_pretrained(model, adapter_dir)
    model.eval()
    with torch.no_grad():
        got = model(t["x"])
    saved = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    loaded = get_peft_model_state_dict(model)
    keys_match = set(saved) == set(loaded) and all(torch.equal(saved[k], loaded[k]) for k in saved)
    print(json.dumps({
        "peft": peft.__version__, "timm": timm.__version__, "torch": torch.__version__,
        "lora_layers": sum(isinstance(m, LoraLayer) for m in model.modules()),
        "keys_match": keys_match,
        "max_abs_diff": (got - want).abs().max().item(),
        "max_abs_diff_without_lora": (plain - want).abs().max().item(),
        "max_abs_logit": want.abs().max().item(),
        "argmax_agree": int((got.argmax(1) == want.argmax(1)).sum().item()),
        "n": want.shape[0],
    }))


if __name__ == "__main__":
    main()
