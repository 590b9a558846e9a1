#!/usr/bin/python3
"""Times training steps of the benchmark's PyTorch ViT twin on one random
batch, without data loading or evaluation: the PyTorch side of a step-level
comparison with `go test -run XXX -bench ViTStep ./trainer/nn` (which also
reports CPU time per step). Prints wall and process CPU seconds per step.

Usage: pytorch_vit_step.py [THREADS] [STEPS] [BATCH]   (defaults 2, 8 and 128; 2 warm-up steps first)

The recipe trains the ViT at batch 16; 128 was its batch before.

On a machine shared with other jobs set OMP_WAIT_POLICY=PASSIVE: OpenMP's
worker threads otherwise spin between parallel regions, and spinning on an
oversubscribed machine costs PyTorch many times its compute.
"""
import importlib.util, os, sys, time

import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("pytorch_mnist", os.path.join(here, "pytorch_mnist.py"))
pm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pm)

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 8
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 128
torch.set_num_threads(threads)
torch.manual_seed(1)
model = pm.ViT()
opt, sched = pm.vit_optimizer(model, -(-60000 // batch))
x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))


def step():
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()


step()
step()
w0, c0 = time.perf_counter(), time.process_time()
for _ in range(steps):
    step()
print("pytorch vit threads %d batch %d: %.4f s/step wall, %.4f CPU s/step" % (
    threads, batch, (time.perf_counter() - w0) / steps, (time.process_time() - c0) / steps))
