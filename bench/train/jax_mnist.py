"""JAX + optax baseline for the trainer benchmark.

Trains the same models as `trainer --model mlp|cnn` (MLP 784-512-256-10; the
PyTorch examples/mnist CNN, with its two dropouts) on MNIST held in memory,
batch 128, Adam 1e-3 (optax), the whole training step (forward, loss, backward,
Adam update) under one jax.jit, and prints one JSON line per model: seconds per
60,000-image epoch (median over the timed epochs, wall clock and CPU time of the
process) and test accuracy. The first, compiling step is untimed and reported
as compile_seconds. XLA's CPU backend uses every core it is given: run it under
`taskset -c 0,1` for two (bench/train/compare.sh does).

Usage: jax_mnist.py MNIST_DIR [--models mlp,cnn] [--epochs N] [--max-batches B] [--infer]

--infer also times the jitted forward pass over the test set at batch 256
(inference_images_per_second), the counterpart of `trainer eval`.
"""
import argparse
import gzip
import json
import statistics
import struct
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    _, _, _, rank = struct.unpack(">BBBB", data[:4])
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data[4 + 4 * rank:], dtype=np.uint8).reshape(dims)


def uniform(key, shape, fan_in):
    # torch.nn.Linear/Conv2d's default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    b = 1.0 / np.sqrt(fan_in)
    return jax.random.uniform(key, shape, jnp.float32, -b, b)


def dense_init(key, fin, fout):
    k1, k2 = jax.random.split(key)
    return {"w": uniform(k1, (fin, fout), fin), "b": uniform(k2, (fout,), fin)}


def conv_init(key, cin, cout, k):
    k1, k2 = jax.random.split(key)
    fan = cin * k * k
    return {"w": uniform(k1, (cout, cin, k, k), fan), "b": uniform(k2, (cout,), fan)}


def mlp_init(key):
    ks = jax.random.split(key, 3)
    return [dense_init(ks[0], 784, 512), dense_init(ks[1], 512, 256), dense_init(ks[2], 256, 10)]


def mlp_apply(p, x, key, train):
    x = x.reshape(x.shape[0], -1)
    x = jax.nn.relu(x @ p[0]["w"] + p[0]["b"])
    x = jax.nn.relu(x @ p[1]["w"] + p[1]["b"])
    return x @ p[2]["w"] + p[2]["b"]


def cnn_init(key):
    ks = jax.random.split(key, 4)
    return {"c1": conv_init(ks[0], 1, 32, 3), "c2": conv_init(ks[1], 32, 64, 3),
            "f1": dense_init(ks[2], 9216, 128), "f2": dense_init(ks[3], 128, 10)}


def conv(x, p):
    y = jax.lax.conv_general_dilated(x, p["w"], (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return y + p["b"][None, :, None, None]


def dropout(x, rate, key, train):
    if not train:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


def cnn_apply(p, x, key, train):
    k1, k2 = jax.random.split(key)
    x = jax.nn.relu(conv(x, p["c1"]))
    x = jax.nn.relu(conv(x, p["c2"]))
    x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    x = dropout(x, 0.25, k1, train).reshape(x.shape[0], -1)
    x = dropout(jax.nn.relu(x @ p["f1"]["w"] + p["f1"]["b"]), 0.5, k2, train)
    return x @ p["f2"]["w"] + p["f2"]["b"]


MODELS = {"mlp": (mlp_init, mlp_apply), "cnn": (cnn_init, cnn_apply)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mnist_dir")
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-batches", type=int, default=0)
    ap.add_argument("--infer", action="store_true")
    a = ap.parse_args()
    d = a.mnist_dir.rstrip("/") + "/"
    mean, std = 0.1307, 0.3081
    xtr = ((read_idx(d + "train-images-idx3-ubyte.gz").astype(np.float32) / 255 - mean) / std)[:, None]
    ytr = read_idx(d + "train-labels-idx1-ubyte.gz").astype(np.int32)
    xte = ((read_idx(d + "t10k-images-idx3-ubyte.gz").astype(np.float32) / 255 - mean) / std)[:, None]
    yte = read_idx(d + "t10k-labels-idx1-ubyte.gz").astype(np.int32)
    xtr_d, ytr_d = jnp.asarray(xtr), jnp.asarray(ytr)
    n, bs = xtr.shape[0], 128
    nb = n // bs  # full batches only: one compiled shape (the last 96 images are dropped)
    for name in a.models.split(","):
        init, apply = MODELS[name]
        key = jax.random.PRNGKey(1)
        params = init(key)
        opt = optax.adam(1e-3)
        state = opt.init(params)

        def loss_fn(p, x, y, k):
            return optax.softmax_cross_entropy_with_integer_labels(apply(p, x, k, True), y).mean()

        @jax.jit
        def step(p, s, x, y, k):
            loss, g = jax.value_and_grad(loss_fn)(p, x, y, k)
            upd, s = opt.update(g, s, p)
            return optax.apply_updates(p, upd), s, loss

        predict = jax.jit(lambda p, x: jnp.argmax(apply(p, x, key, False), axis=1))
        t0 = time.perf_counter()
        params, state, loss = step(params, state, xtr_d[:bs], ytr_d[:bs], key)
        loss.block_until_ready()
        compile_s = time.perf_counter() - t0
        rng = np.random.default_rng(1)
        times, cpus = [], []
        for epoch in range(a.epochs):
            perm = jnp.asarray(rng.permutation(n)[:nb * bs].reshape(nb, bs))
            limit = a.max_batches or nb
            t0, c0 = time.perf_counter(), time.process_time()
            for b in range(limit):
                key, sub = jax.random.split(key)
                idx = perm[b]
                params, state, loss = step(params, state, xtr_d[idx], ytr_d[idx], sub)
            loss.block_until_ready()
            scale = 60000 / (limit * bs)
            times.append((time.perf_counter() - t0) * scale)
            cpus.append((time.process_time() - c0) * scale)
        correct = sum(int((predict(params, xte[i:i + 1000]) == yte[i:i + 1000]).sum()) for i in range(0, len(yte), 1000))
        out = {"framework": "jax", "jax": jax.__version__, "optax": optax.__version__, "model": name,
               "devices": str(jax.devices()), "seconds_per_epoch": statistics.median(times),
               "cpu_seconds_per_epoch": statistics.median(cpus), "epochs": a.epochs,
               "timed_batches_per_epoch": a.max_batches or nb, "compile_seconds": compile_s,
               "test_accuracy": correct / len(yte)}
        if a.infer:
            best = 0.0
            predict(params, xte[:256]).block_until_ready()
            predict(params, xte[len(xte) // 256 * 256:]).block_until_ready()  # the short last batch's shape
            for _ in range(3):
                t0 = time.perf_counter()
                for i in range(0, len(xte), 256):
                    r = predict(params, xte[i:i + 256])
                r.block_until_ready()
                best = max(best, len(xte) / (time.perf_counter() - t0))
            out["inference_images_per_second"] = best
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
