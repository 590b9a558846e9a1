#!/usr/bin/env python3
"""In-process MLP step and forward timings for PyTorch 2.x and JAX, the
counterpart of `go test -bench 'MLPTrainStep|MLPForwardEval' ./trainer/nn`.

The 784-512-256-10 ReLU MLP, one batch of 128 random images already in memory:
a training step is forward, cross-entropy, backward and the Adam update
(PyTorch: eager, torch.set_num_threads(THREADS); JAX: the whole step under one
jax.jit with optax.adam); a forward is the eval pass (PyTorch under
torch.inference_mode(), JAX jitted) at batch 128, 256 and 1000. Prints one JSON
line per framework: median ms per step over ROUNDS rounds of STEPS steps (wall
and process CPU), and images/s of the forward per batch size (per second of wall and of CPU time). With
--threads 1 (JAX: XLA's single-threaded CPU client) the CPU figures are the
ones that survive a loaded machine: no thread waits on another.

Usage: mlp_step.py [--frameworks torch,jax] [--threads 2] [--steps 200] [--rounds 5]
"""
import argparse
import json
import statistics
import sys
import time


def timed(fn, steps, rounds):
    walls, cpus = [], []
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            fn()
        walls.append((time.perf_counter() - t0) / steps)
        cpus.append((time.process_time() - c0) / steps)
    return statistics.median(walls), statistics.median(cpus)


def time_forwards(forward_of, a, out):
    """Times forward_of(n)() at batches 128, 256 and 1000 (10 warm-up calls
    each) into out's images-per-second tables."""
    for n in (128, 256, 1000):
        fwd = forward_of(n)
        for _ in range(10):
            fwd()
        w, c = timed(fwd, max(10, a.steps * 128 // n), a.rounds)
        out["forward_images_per_second"][str(n)] = n / w
        out["forward_images_per_cpu_second"][str(n)] = n / c


def torch_side(a):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.rand(128, 784), torch.randint(0, 10, (128,))

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    for _ in range(10):
        step()
    wall, cpu = timed(step, a.steps, a.rounds)
    out = {"framework": "pytorch", "version": torch.__version__, "threads": a.threads,
           "step_ms": wall * 1e3, "step_cpu_ms": cpu * 1e3, "forward_images_per_second": {}, "forward_images_per_cpu_second": {}}
    model.eval()
    with torch.inference_mode():
        def forward_of(n):
            xb = torch.rand(n, 784)
            return lambda: model(xb).argmax(1)
        time_forwards(forward_of, a, out)
    return out


def jax_side(a):
    import os
    if a.threads == 1:  # XLA's CPU client otherwise runs on every core
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    key = jax.random.PRNGKey(1)
    ks = jax.random.split(key, 3)
    dims = [(784, 512), (512, 256), (256, 10)]
    params = [{"w": jax.random.uniform(k, d, jnp.float32, -d[0] ** -0.5, d[0] ** -0.5),
               "b": jnp.zeros(d[1], jnp.float32)} for k, d in zip(ks, dims)]

    def forward(p, x):
        for l in p[:-1]:
            x = jax.nn.relu(x @ l["w"] + l["b"])
        return x @ p[-1]["w"] + p[-1]["b"]

    def loss(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(forward(p, x), y).mean()
    tx = optax.adam(1e-3)
    state = [params, tx.init(params)]

    @jax.jit
    def train(p, s, x, y):
        g = jax.grad(loss)(p, x, y)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.random((128, 784), dtype=np.float32))
    y = jnp.asarray(rng.integers(0, 10, 128))

    def step():
        state[0], state[1] = train(state[0], state[1], x, y)
    for _ in range(10):
        step()
    jax.block_until_ready(state[0])

    def blocking_step():
        step()
        jax.block_until_ready(state[0])
    wall, cpu = timed(blocking_step, a.steps, a.rounds)
    out = {"framework": "jax", "version": jax.__version__, "threads": a.threads, "step_ms": wall * 1e3, "step_cpu_ms": cpu * 1e3,
           "forward_images_per_second": {}, "forward_images_per_cpu_second": {}}
    pred = jax.jit(lambda p, x: jnp.argmax(forward(p, x), 1))

    def forward_of(n):
        xb = jnp.asarray(rng.random((n, 784), dtype=np.float32))
        return lambda: pred(state[0], xb).block_until_ready()
    time_forwards(forward_of, a, out)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frameworks", default="torch,jax")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    for f in a.frameworks.split(","):
        print(json.dumps({"torch": torch_side, "jax": jax_side}[f](a)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
