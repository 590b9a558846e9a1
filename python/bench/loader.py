"""Throughput of one shuffled epoch over a split, shardsmith's loader
against other Python loaders, each with 0 and 2 DataLoader workers, batch
size 128, a consumer that touches every batch (sums its images).

    python bench/loader.py --shards out/mnist/latest [--idx DIR] [--rounds 3] \
        [--loaders shardsmith,shardsmith-first,hf,streaming,webdataset,torchvision]

shardsmith reads the shards through a shard cache of its own (in the
benchmark's temporary directory) that holds their decoded copies, made once
before any timing (not timed) like the others' conversions; shardsmith-first
starts every measurement from an empty cache: the first open of a version,
which decompresses the shards and writes their copies at the end of its first
epoch. The competitors get the same rows, converted once before any timing (not
timed): HF `datasets` loads the shards themselves (load_dataset("arrow"),
cached once) in its torch format; MosaicML `streaming` reads an MDS copy
written by its MDSWriter; WebDataset reads tar shards of .npy images and .cls
labels written by its TarWriter (one tar per shard). All three hold the
float32 normalized images of the shards. torchvision's MNIST reads the IDX
files of --idx (a directory with MNIST's four .gz files), with ToTensor and
Normalize: its 60,000 train images (our train split is 54,000 of them).

Each measurement opens the data, then runs two epochs: the first includes
opening (for shardsmith: the checks of the decoded copies, or for
shardsmith-first the SHA-256 of every shard and its decompression) and gives
the time to the first batch; the second is what the rest of a
training run sees. The rounds are interleaved (every loader and worker
count once per round) so that load from other work on the machine falls on
all of them alike; the tables give the median of the rounds and, for the
second epoch's images/s, the lowest and highest. Markdown on stdout.
"""

import argparse
import gzip
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

import shardsmith
from shardsmith.torch import Loader

BATCH = 128
SEED = 1


def consume(it):
    """(images, seconds, seconds to the first batch) of one pass over it,
    summing every batch's images."""
    t0 = time.perf_counter()
    first, n, acc = None, 0, 0.0
    for b in it:
        x = b["image"] if isinstance(b, dict) else b[0]
        acc += float(x.float().sum())
        n += x.shape[0]
        if first is None:
            first = time.perf_counter() - t0
    return n, time.perf_counter() - t0, first


def two_epochs(make):
    """Times make() (opening) plus an epoch, then a second epoch."""
    t0 = time.perf_counter()
    it = make()
    n, secs, first = consume(it)
    total = time.perf_counter() - t0
    n2, again, _ = consume(it)
    if n2 != n:
        raise RuntimeError(f"second epoch gave {n2} images, the first {n}")
    return n, total, first + (total - secs), again


# --- shardsmith ---------------------------------------------------------------

def prep_shardsmith(args):
    # the decoded copies of the train shards, written once a shard has been read whole
    train = shardsmith.open(args.shards, cache_dir=os.path.join(args.cache, "shards"))["train"]
    train.take(range(len(train)))


def run_shardsmith(args, workers):
    return two_epochs(lambda: Loader(shardsmith.open(args.shards, cache_dir=os.path.join(args.cache, "shards"))["train"],
                                     batch_size=BATCH, seed=SEED, num_workers=workers))


def run_shardsmith_first(args, workers):
    cache = tempfile.mkdtemp(prefix="first-", dir=args.cache)
    try:
        return two_epochs(lambda: Loader(shardsmith.open(args.shards, cache_dir=cache)["train"], batch_size=BATCH,
                                         seed=SEED, num_workers=workers))
    finally:
        shutil.rmtree(cache)


# --- Hugging Face datasets ------------------------------------------------------

def prep_hf(args):
    from datasets import load_dataset
    load_dataset("arrow", data_files={"train": shardsmith.open(args.shards)["train"].shards},
                 cache_dir=os.path.join(args.cache, "hf"), split="train")


def run_hf(args, workers):
    from datasets import load_dataset

    def make():
        ds = shardsmith.open(args.shards, verify=False)  # only for the shard paths
        hf = load_dataset("arrow", data_files={"train": ds["train"].shards}, cache_dir=os.path.join(args.cache, "hf"),
                          split="train")
        # torch format cannot convert uint64 (source_index): take the columns a model needs
        hf = hf.with_format("torch", columns=["image", "label"])
        return DataLoader(hf, batch_size=BATCH, shuffle=True, num_workers=workers)
    return two_epochs(make)


# --- MosaicML streaming ---------------------------------------------------------

def _rows(args):
    """(image (H, W, C) float32, label) of every train row, shard by shard."""
    train = shardsmith.open(args.shards)["train"]
    for lo in range(0, len(train), 4096):
        r = train.take(range(lo, min(lo + 4096, len(train))))
        for img, lab in zip(r["image"], r["label"]):
            yield img, int(lab)


def prep_streaming(args):
    from streaming import MDSWriter
    h, w, c = shardsmith.open(args.shards, verify=False).shape
    with MDSWriter(out=os.path.join(args.cache, "mds"), columns={"image": f"ndarray:float32:{h},{w},{c}", "label": "int"},
                   compression=None) as out:
        for img, lab in _rows(args):
            out.write({"image": img, "label": lab})


def run_streaming(args, workers):
    from streaming import StreamingDataset
    from streaming.base.util import clean_stale_shared_memory

    def make():
        clean_stale_shared_memory()
        ds = StreamingDataset(local=os.path.join(args.cache, "mds"), shuffle=True, shuffle_seed=SEED, batch_size=BATCH)
        return DataLoader(ds, batch_size=BATCH, num_workers=workers)
    return two_epochs(make)


# --- WebDataset -----------------------------------------------------------------

def prep_webdataset(args):
    import webdataset as wds
    train = shardsmith.open(args.shards)["train"]
    d = os.path.join(args.cache, "wds")
    os.makedirs(d)
    i = 0
    for s, sh in enumerate(train._sp.shards):
        with wds.TarWriter(os.path.join(d, f"train-{s:05d}.tar")) as tw:
            r = train.take(range(i, i + sh.rows))
            for k in range(sh.rows):
                tw.write({"__key__": f"{i + k:06d}", "npy": r["image"][k], "cls": int(r["label"][k])})
            i += sh.rows


def run_webdataset(args, workers):
    import webdataset as wds

    def make():
        d = os.path.join(args.cache, "wds")
        tars = sorted(os.path.join(d, f) for f in os.listdir(d))
        # shards shuffled, then samples through a 10,000-row buffer (WebDataset has no full shuffle)
        ds = (wds.WebDataset(tars, shardshuffle=len(tars), seed=SEED, empty_check=False)
              .shuffle(10000).decode().to_tuple("npy", "cls").batched(BATCH))
        return wds.WebLoader(ds, batch_size=None, num_workers=workers)
    return two_epochs(make)


# --- torchvision ----------------------------------------------------------------

def prep_torchvision(args):
    raw = os.path.join(args.cache, "tv", "MNIST", "raw")
    os.makedirs(raw)
    for f in os.listdir(args.idx):
        if f.endswith(".gz"):
            with gzip.open(os.path.join(args.idx, f)) as src, open(os.path.join(raw, f[:-3]), "wb") as dst:
                shutil.copyfileobj(src, dst)


def run_torchvision(args, workers):
    import torchvision
    from torchvision import transforms

    def make():
        tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
        ds = torchvision.datasets.MNIST(os.path.join(args.cache, "tv"), train=True, download=False, transform=tf)
        return DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=workers)
    return two_epochs(make)


LOADERS = {
    "shardsmith": (prep_shardsmith, run_shardsmith),
    "shardsmith-first": (None, run_shardsmith_first),
    "hf": (prep_hf, run_hf),
    "streaming": (prep_streaming, run_streaming),
    "webdataset": (prep_webdataset, run_webdataset),
    "torchvision": (prep_torchvision, run_torchvision),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", required=True, help="a version of an MNIST-like dataset (its train split is read)")
    ap.add_argument("--idx", help="directory of MNIST's IDX .gz files (torchvision)")
    ap.add_argument("--loaders", default="shardsmith,shardsmith-first,hf,streaming,webdataset,torchvision")
    ap.add_argument("--workers", default="0,2")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    names = args.loaders.split(",")
    for name in names:
        if name not in LOADERS:
            ap.error(f"unknown loader {name!r} (have {', '.join(LOADERS)})")
    if "torchvision" in names and not args.idx:
        ap.error("torchvision needs --idx")
    workers = [int(w) for w in args.workers.split(",")]
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as cache:
        args.cache = cache
        for name in names:
            prep = LOADERS[name][0]
            if prep is not None:
                t0 = time.perf_counter()
                prep(args)
                print(f"prepared {name} in {time.perf_counter() - t0:.1f}s (not timed below)", file=sys.stderr)
        results = {}
        for r in range(args.rounds):
            for name in names:
                for w in workers:
                    got = LOADERS[name][1](args, w)
                    results.setdefault((name, w), []).append(got)
                    print(f"round {r + 1} {name} workers={w}: {got[0]} images, first epoch {got[1]:.2f}s, "
                          f"first batch {got[2]:.3f}s, second epoch {got[3]:.2f}s ({got[0] / got[3]:,.0f}/s)",
                          file=sys.stderr, flush=True)
    print(f"| loader | workers | images | open + first epoch (s) | first batch (s) | second epoch (s) "
          f"| images/s (median of {args.rounds}) | lowest – highest |")
    print("|---|---|---|---|---|---|---|---|")
    for (name, w), runs in results.items():
        n = runs[0][0]
        med = [statistics.median(x[i] for x in runs) for i in (1, 2, 3)]
        rates = sorted(n / x[3] for x in runs)
        print(f"| {name} | {w} | {n} | {med[0]:.2f} | {med[1]:.3f} | {med[2]:.2f} | {n / med[2]:,.0f} "
              f"| {rates[0]:,.0f} – {rates[-1]:,.0f} |")


if __name__ == "__main__":
    main()
