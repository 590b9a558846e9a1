"""Throughput of torchvision RandomAffine through a DataLoader.

The baseline for the augment stage: RandomAffine(degrees=10,
translate=(0.1, 0.1), scale=(0.9, 1.1)) over 60,000 28x28 uint8 images, the
way an MNIST training script applies it, through a DataLoader with 2 workers.
Two input forms are measured:

  pil     PIL images (what torchvision.datasets.MNIST yields), then
          PILToTensor so batches can be collated;
  tensor  uint8 tensors of shape 1x28x28 (RandomAffine via grid_sample).

Each form runs one untimed warm-up epoch (worker start-up, caches), then
--runs timed epochs with persistent workers; the median is reported, and
the rate per CPU-second (user+system time of the main process and its
workers, from /proc), which a machine shared with other jobs disturbs much
less than wall time. The last line is machine-readable:
"best <images/s> <form> <images/cpu-s>".
"""

import argparse
import os
import statistics
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms


class Images(Dataset):
    def __init__(self, pixels, as_pil, transform):
        self.pixels = pixels
        self.as_pil = as_pil
        self.transform = transform

    def __len__(self):
        return len(self.pixels)

    def __getitem__(self, i):
        if self.as_pil:
            img = Image.fromarray(self.pixels[i], mode="L")
        else:
            img = torch.from_numpy(self.pixels[i]).unsqueeze(0)
        return self.transform(img), 0


def cpu_seconds(pids):
    """User+system CPU seconds of the given processes, from /proc/<pid>/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def measure(form, pixels, workers, batch, runs):
    affine = transforms.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))
    if form == "pil":
        tf = transforms.Compose([affine, transforms.PILToTensor()])
    else:
        tf = affine
    loader = DataLoader(
        Images(pixels, form == "pil", tf),
        batch_size=batch,
        num_workers=workers,
        persistent_workers=workers > 0,
        shuffle=False,
    )
    rates = []
    cpu0 = None
    for epoch in range(runs + 1):
        start = time.perf_counter()
        seen = 0
        for x, _ in loader:
            seen += x.shape[0]
        elapsed = time.perf_counter() - start
        if seen != len(pixels):
            raise SystemExit(f"{form}: saw {seen} images, want {len(pixels)}")
        pids = [os.getpid()] + [w.pid for w in getattr(loader._iterator, "_workers", [])]
        if epoch == 0:
            cpu0 = cpu_seconds(pids)  # persistent workers: the same processes every epoch
        else:
            rates.append(seen / elapsed)
    per_cpu = len(pixels) * runs / (cpu_seconds(pids) - cpu0)
    return statistics.median(rates), rates, per_cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--forms", default="pil,tensor")
    args = ap.parse_args()

    torch.manual_seed(0)
    # Same input as the Go benchmark: uniform random bytes.
    pixels = np.random.default_rng(0).integers(0, 256, size=(args.n, 28, 28), dtype=np.uint8)
    best = None
    for form in args.forms.split(","):
        med, rates, per_cpu = measure(form, pixels, args.workers, args.batch, args.runs)
        print(
            f"torchvision {torch.__version__} RandomAffine ({form}): {args.n} images 28x28, "
            f"DataLoader {args.workers} workers, batch {args.batch}, median {med:.0f} images/s, "
            f"runs {[round(r) for r in rates]}, {per_cpu:.0f} images/cpu-s",
            flush=True,
        )
        if best is None or med > best[0]:
            best = (med, form, per_cpu)
    print(f"best {best[0]:.0f} {best[1]} {best[2]:.0f}")


if __name__ == "__main__":
    main()
