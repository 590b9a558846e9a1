#!/usr/bin/python3
"""Loads a shardsmith ViT checkpoint strictly into timm's VisionTransformer
and compares its logits with the ones shardsmith computed.

Usage: vit_check.py CHECKPOINT_JSON INPUTS_SAFETENSORS [--twin BENCH_SCRIPT]

CHECKPOINT_JSON is a checkpoint sidecar written by the trainer (the weights
file it names sits beside it). INPUTS_SAFETENSORS holds "x" [N, C, H, W]
(shardsmith's model input, already normalized) and "logits" [N, classes]
(what shardsmith's forward pass gave). Prints one JSON line: the timm
version, the max absolute logit difference, the largest logit magnitude and
how many argmaxes agree. Exits 1 when the state dict does not load strictly.

With --twin, the model is the ViT class of the benchmark's PyTorch twin
(bench/train/pytorch_mnist.py, loaded from BENCH_SCRIPT; it has the default
hyper-parameters only) instead of timm's: the check that the twin computes
the same network as ours.

Needs torch, timm (0.9 or later) and safetensors.
"""
import importlib.util, json, os, sys

import torch
import timm
from timm.models.vision_transformer import VisionTransformer
from safetensors.torch import load_file


def main():
    sidecar, inputs = sys.argv[1], sys.argv[2]
    twin = sys.argv[4] if len(sys.argv) == 5 and sys.argv[3] == "--twin" else None
    with open(sidecar) as f:
        meta = json.load(f)
    arch = meta["arch"]
    layers = {l["name"]: l for l in arch["layers"]}
    blocks = [l for l in arch["layers"] if l["type"] == "vit_block"]
    pe, head = layers["patch_embed"], layers["head"]
    c, h, w = arch["input"]
    if twin:
        spec = importlib.util.spec_from_file_location("pytorch_mnist", twin)
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
        model = bench.ViT()
    else:
        model = VisionTransformer(
            img_size=(h, w), patch_size=pe["kernel"], in_chans=c, num_classes=head["out"],
            embed_dim=pe["out"], depth=len(blocks), num_heads=blocks[0]["heads"],
            mlp_ratio=blocks[0]["hidden"] / pe["out"], global_pool="token")
    weights = load_file(os.path.join(os.path.dirname(sidecar), meta["weights"]["name"]))
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        print(json.dumps({"error": str(e)}))
        sys.exit(1)
    model.eval()
    t = load_file(inputs)
    with torch.no_grad():
        got = model(t["x"])
    want = t["logits"]
    print(json.dumps({
        "timm": timm.__version__, "torch": torch.__version__,
        "max_abs_diff": (got - want).abs().max().item(),
        "max_abs_logit": want.abs().max().item(),
        "argmax_agree": int((got.argmax(1) == want.argmax(1)).sum().item()),
        "n": want.shape[0],
    }))


if __name__ == "__main__":
    main()
