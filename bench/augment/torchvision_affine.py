"""Throughput of torchvision and albumentations augmentations through a DataLoader.

The baseline for the augment stage: RandomAffine(degrees=10,
translate=(0.1, 0.1), scale=(0.9, 1.1)) (--op affine) or an elastic
distortion with alpha 34 and sigma 4 (--op elastic) over 60,000 28x28 uint8
images, the way an MNIST training script applies it, through a DataLoader
(--workers 1 runs the transforms in the main process, num_workers=0; N > 1
uses N worker processes). --lib picks the library:

  torchvision     torchvision.transforms (v1; what Debian's 0.14 has);
  torchvision-v2  torchvision.transforms.v2 (torchvision 0.15 and later);
  albumentations  A.Affine(rotate=(-10, 10), translate_percent=(-0.1, 0.1),
                  scale=(0.9, 1.1)) / A.ElasticTransform(alpha=34, sigma=4)
                  on HxW uint8 numpy arrays (its native input).

The torchvision libraries are measured on two input forms:

  pil     PIL images (what torchvision.datasets.MNIST yields), then
          PILToTensor so batches can be collated;
  tensor  uint8 tensors of shape 1x28x28 (RandomAffine via grid_sample).

Each form runs one untimed warm-up epoch (worker start-up, caches), then
--runs timed epochs with persistent workers; the median is reported, and
the rate per CPU-second (user+system time of the main process and its
workers, from /proc), which a machine shared with other jobs disturbs much
less than wall time. The last line is machine-readable:
"best <images/s> <form> <images/cpu-s>".

  python3 torchvision_affine.py [--lib torchvision|torchvision-v2|albumentations]
      [--op affine|elastic] [--workers 2] [--runs 5] [--n 60000]
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
    def __init__(self, pixels, form, transform):
        self.pixels = pixels
        self.form = form
        self.transform = transform

    def __len__(self):
        return len(self.pixels)

    def __getitem__(self, i):
        if self.form == "pil":
            img = Image.fromarray(self.pixels[i])
        elif self.form == "numpy":
            return self.transform(image=self.pixels[i])["image"], 0
        else:
            img = torch.from_numpy(self.pixels[i]).unsqueeze(0)
        return self.transform(img), 0


def make_transform(lib, op, form):
    """The transform of lib for op, taking the given input form."""
    if lib == "albumentations":
        import albumentations as A

        if op == "affine":
            return A.Affine(rotate=(-10, 10), translate_percent=(-0.1, 0.1), scale=(0.9, 1.1), p=1.0)
        return A.ElasticTransform(alpha=34, sigma=4, p=1.0)
    if lib == "torchvision-v2":
        from torchvision.transforms import v2 as T
    else:
        T = transforms
    if op == "affine":
        tf = T.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))
    else:
        tf = T.ElasticTransform(alpha=34.0, sigma=4.0)
    if form == "pil":
        return T.Compose([tf, T.PILToTensor()])
    return tf


def cpu_seconds(pids):
    """User+system CPU seconds of the given processes, from /proc/<pid>/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def measure(lib, op, form, pixels, workers, batch, runs):
    procs = workers if workers > 1 else 0  # one worker: the main process itself
    loader = DataLoader(
        Images(pixels, form, make_transform(lib, op, form)),
        batch_size=batch,
        num_workers=procs,
        persistent_workers=procs > 0,
        shuffle=False,
    )
    rates = []
    cpu0 = None
    for epoch in range(runs + 1):
        start = time.perf_counter()
        seen = 0
        for x, _ in loader:
            seen += x.shape[0]
            if epoch == 0 and seen >= 8 * batch * max(1, procs):
                break  # warm-up: start the workers, fill caches
        elapsed = time.perf_counter() - start
        if epoch > 0 and seen != len(pixels):
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
    ap.add_argument("--forms", default="", help="input forms (default: pil,tensor; numpy for albumentations)")
    ap.add_argument("--lib", default="torchvision", choices=["torchvision", "torchvision-v2", "albumentations"])
    ap.add_argument("--op", default="affine", choices=["affine", "elastic"])
    args = ap.parse_args()
    forms = args.forms or ("numpy" if args.lib == "albumentations" else "pil,tensor")
    if args.lib == "albumentations":
        import albumentations

        version = "albumentations " + albumentations.__version__
    else:
        import torchvision

        version = f"torchvision {torchvision.__version__} (torch {torch.__version__})"
    torch.set_num_threads(1)  # each worker is one core, like ours

    torch.manual_seed(0)
    # Same input as the Go benchmark: uniform random bytes.
    pixels = np.random.default_rng(0).integers(0, 256, size=(args.n, 28, 28), dtype=np.uint8)
    best = None
    for form in forms.split(","):
        med, rates, per_cpu = measure(args.lib, args.op, form, pixels, args.workers, args.batch, args.runs)
        print(
            f"{version} {args.op} ({form}): {args.n} images 28x28, "
            f"{args.workers} workers, batch {args.batch}, median {med:.0f} images/s, "
            f"runs {[round(r) for r in rates]}, {per_cpu:.0f} images/cpu-s",
            flush=True,
        )
        if best is None or med > best[0]:
            best = (med, form, per_cpu)
    print(f"best {best[0]:.0f} {best[1]} {best[2]:.0f}")


if __name__ == "__main__":
    main()
