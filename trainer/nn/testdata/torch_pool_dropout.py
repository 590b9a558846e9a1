"""Records PyTorch's max-pooling tie-breaking and dropout scaling for nn's parity tests.

Run with PyTorch 1.13 (Debian's python3-torch):  python3 torch_pool_dropout.py > torch_pool_dropout.json
The tests read only the JSON; they never run this script.

pool: inputs of small integers (so that windows hold ties) pooled by
MaxPool2d(k, stride) with return_indices; the flat index inside each plane
of every window's winner, the outputs, and the input gradient for an
upstream gradient dy (overlapping windows add up).
dropout: for each p, the distinct values F.dropout(x, p, training=True)
gives for each distinct input value x (0 for the dropped, x scaled for the kept).
"""
import json
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(0)
pool = []
for (n, c, h, w), k, s in [((1, 2, 6, 6), 2, 2), ((2, 1, 7, 5), 2, 2), ((1, 2, 7, 7), 3, 2),
                           ((1, 1, 6, 5), 3, 1), ((1, 1, 5, 5), 2, 1), ((1, 2, 4, 4), 4, 4)]:
    for values in (2, 1):  # values=1: every window is one big tie
        x = torch.randint(0, values, (n, c, h, w)).float()
        x.requires_grad_(True)
        y, idx = F.max_pool2d(x, k, s, return_indices=True)
        dy = torch.randint(1, 5, y.shape).float()
        y.backward(dy)
        pool.append({"shape": [n, c, h, w], "k": k, "stride": s, "x": x.detach().flatten().tolist(),
                     "y": y.detach().flatten().tolist(), "indices": idx.flatten().tolist(),
                     "dy": dy.flatten().tolist(), "dx": x.grad.flatten().tolist()})

xs = [1.0, -2.5, 0.3, 7.0, 1e-3, -0.1, 3.14159, 100.0]
dropout = []
for p in [0.1, 0.2, 0.25, 0.3, 1 / 3, 0.5, 0.7, 0.9]:
    x = torch.tensor(xs * 512)
    y = F.dropout(x, p, training=True)
    kept = {}
    for xi, yi in zip(x.tolist(), y.tolist()):
        if yi != 0:
            kept[repr(xi)] = yi
    dropout.append({"p": p, "x": [float(v) for v in torch.tensor(xs).tolist()],
                    "kept": [kept[repr(v)] for v in torch.tensor(xs).tolist()],
                    "eval_identity": torch.equal(F.dropout(x, p, training=False), x)})

json.dump({"generator": "torch " + torch.__version__, "pool": pool, "dropout": dropout}, sys.stdout)
print()
