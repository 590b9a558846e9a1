"""Throughput of one shuffled epoch over a split, shardsmith's loader
against other Python loaders, each with 0 and 2 DataLoader workers, batch
size 128, a consumer that touches every batch (sums its images).

    python bench/loader.py --shards out/mnist/latest [--idx DIR] [--loaders shardsmith,hf,torchvision]

--idx is a directory holding MNIST's four IDX .gz files (for torchvision's
MNIST, which reads them itself). Each loader runs two epochs: the first
includes opening (and, for shardsmith, hashing and decompressing every
shard), the second is what the rest of a training run sees. One run each;
the numbers go to stdout as Markdown table rows.
"""

import argparse
import gzip
import os
import shutil
import tempfile
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

import shardsmith
from shardsmith.torch import Loader

BATCH = 128


def consume(it):
    t0 = time.perf_counter()
    first, n, acc = None, 0, 0.0
    for b in it:
        x = b["image"] if isinstance(b, dict) else b[0]
        acc += float(x.float().sum())
        n += x.shape[0]
        if first is None:
            first = time.perf_counter() - t0
    return n, time.perf_counter() - t0, first


def bench_shardsmith(args, workers):
    t0 = time.perf_counter()
    train = shardsmith.open(args.shards)["train"]
    loader = Loader(train, batch_size=BATCH, seed=1, num_workers=workers)
    n, secs, first = consume(loader)
    total = time.perf_counter() - t0
    return n, total, first + (total - secs), consume(loader)[1]


def bench_hf(args, workers):
    from datasets import load_dataset
    t0 = time.perf_counter()
    ds = shardsmith.open(args.shards)
    hf = load_dataset("arrow", data_files={"train": ds["train"].shards}, cache_dir=args.cache, split="train")
    # torch format cannot convert uint64 (source_index): take the columns a model needs
    hf = hf.with_format("torch", columns=["image", "label"])
    dl = DataLoader(hf, batch_size=BATCH, shuffle=True, num_workers=workers)
    n, secs, first = consume(dl)
    total = time.perf_counter() - t0
    return n, total, first + (total - secs), consume(dl)[1]


def bench_torchvision(args, workers):
    import torchvision
    from torchvision import transforms
    root = os.path.join(args.cache, "tv")
    raw = os.path.join(root, "MNIST", "raw")
    if not os.path.isdir(raw):
        os.makedirs(raw)
        for f in os.listdir(args.idx):
            if f.endswith(".gz"):
                with gzip.open(os.path.join(args.idx, f)) as src, open(os.path.join(raw, f[:-3]), "wb") as dst:
                    shutil.copyfileobj(src, dst)
    t0 = time.perf_counter()
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    ds = torchvision.datasets.MNIST(root, train=True, download=False, transform=tf)
    dl = DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=workers)
    n, secs, first = consume(dl)
    total = time.perf_counter() - t0
    return n, total, first + (total - secs), consume(dl)[1]


LOADERS = {"shardsmith": bench_shardsmith, "hf": bench_hf, "torchvision": bench_torchvision}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", required=True)
    ap.add_argument("--idx", help="directory of MNIST's IDX .gz files (torchvision)")
    ap.add_argument("--loaders", default="shardsmith,hf,torchvision")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as cache:
        args.cache = cache
        print("| loader | workers | images | open + first epoch (s) | images/s | first batch (s) | second epoch (s) | images/s |")
        print("|---|---|---|---|---|---|---|---|")
        for name in args.loaders.split(","):
            if name == "torchvision" and not args.idx:
                continue
            for workers in (0, 2):
                n, secs, first, again = LOADERS[name](args, workers)
                print(f"| {name} | {workers} | {n} | {secs:.2f} | {n / secs:,.0f} | {first:.3f} | {again:.2f} | {n / again:,.0f} |",
                      flush=True)


if __name__ == "__main__":
    main()
