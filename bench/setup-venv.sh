#!/usr/bin/env bash
# Create bench/.venv with the pinned Python packages the benchmarks compare against
# (PyTorch 2.x, torchvision, JAX + optax, albumentations), from PyPI.
#
#   bench/setup-venv.sh [PYTHON]      (default: python3 on PATH, 3.10 or newer)
#
# Idempotent: an existing venv is reused and brought to the pinned versions. Debian's
# PyTorch 1.13 column of the benchmarks uses /usr/bin/python3 with python3-torch,
# python3-torchvision and libopenblas0-pthread instead (apt-get install -y ...).
set -euo pipefail
cd "$(dirname "$0")"
python=${1:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements-bench.txt
.venv/bin/python - <<'PY'
import torch, torchvision, jax, optax, albumentations, numpy
print("torch", torch.__version__, "| torchvision", torchvision.__version__, "| jax", jax.__version__,
      "| optax", optax.__version__, "| albumentations", albumentations.__version__, "| numpy", numpy.__version__)
print("torch CPU capability:", torch.backends.cpu.get_cpu_capability(), "| MKL", torch.backends.mkl.is_available(),
      "| oneDNN", torch.backends.mkldnn.is_available())
PY
