#!/usr/bin/python3
"""Measure CPU SGEMM through PyTorch (Debian's 1.13 calls the system OpenBLAS; PyPI's
2.x wheels carry MKL) or through numpy (--library numpy: its wheel's OpenBLAS).

Prints the same tab-separated columns as the Go harness in this directory:
library, backend, threads, shape, median GFLOP/s, best GFLOP/s (with --raw,
one line per sample with its GFLOP/s in place of the last two).

OpenBLAS sizes its thread pool from OPENBLAS_NUM_THREADS when the library is
loaded, and torch.set_num_threads does not reach it, so the thread count is
fixed in the environment before torch is imported.
"""

import argparse
import os
import sys
import time

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--sizes", default="256,512,1024", help="comma-separated square sizes")
parser.add_argument("--trainer", action="store_true", help="also measure the training-step shapes")
parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
parser.add_argument("--samples", type=int, default=5, help="timed samples per shape")
parser.add_argument("--sample", type=float, default=0.2, help="minimum seconds per sample")
parser.add_argument("--raw", action="store_true", help="print every sample instead of median and best")
parser.add_argument("--library", default="torch", choices=["torch", "numpy"], help="what calls the BLAS")
parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"],
                    help="bf16: torch.mm of bfloat16 tensors (float32 accumulation inside; oneDNN, on AMX or "
                         "AVX512_BF16 where the CPU has them), the counterpart of shardsmith's avx512-bf16; the "
                         "operands are converted before timing, where shardsmith converts float32 ones in the product")
args = parser.parse_args()
if args.dtype == "bf16" and args.library != "torch":
    parser.error("--dtype bf16 needs --library torch")

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402  (must follow the environment set-up)
import torch  # noqa: E402

torch.set_num_threads(args.threads)

# Same shapes as trainerShapes in main.go: (name, transA, transB, m, n, k).
TRAINER = [
    ("mlp-fc1-fwd-NT", False, True, 128, 512, 784),
    ("mlp-fc1-dW-TN", True, False, 512, 784, 128),
    ("mlp-fc1-dX-NN", False, False, 128, 784, 512),
    ("mlp-fc2-fwd-NT", False, True, 128, 256, 512),
    ("mlp-fc3-fwd-NT", False, True, 128, 10, 256),
    ("cnn-conv-fwd-NN", False, False, 576, 64, 288),
    ("cnn-conv-dW-TN", True, False, 288, 64, 576),
    ("cnn-conv-dX-NT", False, True, 576, 288, 64),
    ("cnn-conv-batch-NN", False, False, 128 * 576, 64, 288),
    ("cnn-fc-fwd-NT", False, True, 128, 128, 9216),
    ("cnn-fc-dW-TN", True, False, 128, 9216, 128),
]


def blas_library():
    """Name the BLAS that the library calls: torch's build setting where it names one
    linked in (PyPI's 2.x: BLAS_INFO=mkl), else the BLAS shared object mapped into
    this process."""
    if args.library == "torch":
        info = [f.split("=", 1)[1] for f in torch.__config__.show().replace(",", " ").split() if f.startswith("BLAS_INFO=")]
        if info and info[0] == "mkl":
            return "mkl (linked into libtorch)"
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower()}
    except OSError:
        return "unknown"
    names = sorted(os.path.basename(p) for p in libs if p.startswith("/"))
    openblas = [n for n in names if "openblas" in n]
    if openblas or names:
        return ",".join(openblas or names)
    return "unknown"


def operand(trans, rows, cols):
    # A transposed operand is stored cols×rows and viewed transposed, which
    # torch (and numpy) pass to sgemm as a transpose flag rather than copying.
    if trans:
        x = torch.randn(cols, rows).t()
    else:
        x = torch.randn(rows, cols)
    if args.dtype == "bf16":
        return x.to(torch.bfloat16)
    return x.numpy() if args.library == "numpy" else x


def mm(a, b, c):
    if args.library == "numpy":
        np.matmul(a, b, out=c)
    else:
        torch.mm(a, b, out=c)


def measure(name, ta, tb, m, n, k):
    a = operand(ta, m, k)
    b = operand(tb, k, n)
    c = np.empty((m, n), np.float32) if args.library == "numpy" else torch.empty(m, n, dtype=a.dtype)
    mm(a, b, c)
    per = []
    for _ in range(args.samples):
        it = 0
        start = time.perf_counter()
        while True:
            mm(a, b, c)
            it += 1
            elapsed = time.perf_counter() - start
            if elapsed >= args.sample:
                break
        per.append(elapsed / it)
    flops = 2.0 * m * n * k
    if args.raw:
        for t in per:
            print(f"{label}\t{backend}\t{args.threads}\t{name}\t{flops / t / 1e9:.2f}")
        sys.stdout.flush()
        return
    per.sort()
    print(f"{label}\t{backend}\t{args.threads}\t{name}\t"
          f"{flops / per[len(per) // 2] / 1e9:.1f}\t{flops / per[0] / 1e9:.1f}")
    sys.stdout.flush()


mm(operand(False, 8, 8), operand(False, 8, 8), operand(False, 8, 8))  # load the BLAS library
backend = blas_library()
if args.library == "numpy":
    label = f"numpy-{np.__version__}"
else:
    label = "torch-" + torch.__version__.split("+")[0].replace("a0", "")
label += "-" + ("mkl" if backend.startswith("mkl") else "openblas" if "openblas" in backend else "blas")
if args.dtype == "bf16":
    label = "torch-" + torch.__version__.split("+")[0] + "-bf16"
print(f"# {label}: torch {torch.__version__}, numpy {np.__version__}, BLAS {backend}, {args.threads} thread(s)")
shapes = [(f"square-{n}", False, False, n, n, n)
          for n in (int(s) for s in args.sizes.split(",") if s)]
if args.trainer:
    shapes += TRAINER
for shape in shapes:
    measure(*shape)
