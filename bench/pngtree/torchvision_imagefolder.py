"""Decode a PNG class tree with torchvision's ImageFolder + DataLoader.

The baseline of bench/pngtree: the same tree prep reads, decoded only (PIL
decode, then PILToTensor: uint8 CHW tensors, no normalization, no
augmentation), every split under ROOT (ROOT/<split>/<class>/<file>) through
one DataLoader per split with --workers worker processes. Prints one JSON
line: images, seconds (from building the datasets to the last batch,
interpreter start-up and imports excluded), images_per_second, and
cpu_seconds: user + system time of this process and its DataLoader workers
over the same span (the workers are joined when each split's loader ends).

    /usr/bin/python3 bench/pngtree/torchvision_imagefolder.py TREE --workers 2
"""
import argparse
import json
import os
import resource
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    a = ap.parse_args()
    torch.set_num_threads(1)
    def cpu():
        s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

    t0, c0 = time.perf_counter(), cpu()
    n = 0
    for split in sorted(os.listdir(a.root)):
        ds = datasets.ImageFolder(os.path.join(a.root, split), transform=transforms.PILToTensor())
        dl = DataLoader(ds, batch_size=a.batch_size, num_workers=a.workers, shuffle=False)
        for x, y in dl:
            n += x.shape[0]
        del dl  # joins the workers, so their time is counted
    secs, cpus = time.perf_counter() - t0, cpu() - c0
    print(json.dumps({"images": n, "seconds": secs, "images_per_second": n / secs, "cpu_seconds": cpus, "workers": a.workers,
                      "torch": torch.__version__, "torchvision": __import__("torchvision").__version__}))


if __name__ == "__main__":
    main()
