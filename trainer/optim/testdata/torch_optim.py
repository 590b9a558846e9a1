"""Records PyTorch's optimizer trajectories for optim's parity test.

Run with PyTorch 1.13 (Debian's python3-torch):  python3 torch_optim.py > torch_optim.json
The test reads only the JSON; it never runs this script.

Three parameter groups as optim.GroupParams builds them from the rules
head. (lr x10, weight decay 0) and body.b (lr x0.5, weight decay 0.2), the
rest in the default group with the optimizer's weight decay 0.05; four steps
of fixed gradients; the parameters recorded after every step.
"""
import json

import torch

torch.manual_seed(0)
shapes = {"body.w": 3, "body.b": 2, "head.w": 4}
init = {n: (torch.rand(k) * 2 - 1).tolist() for n, k in shapes.items()}
steps = 4
grads = [{n: (torch.randn(k) * 1.5).tolist() for n, k in shapes.items()} for _ in range(steps)]
LR, WD = 0.01, 0.05

cases = [
    {"name": "sgd", "algorithm": "sgd"},
    {"name": "sgd momentum", "algorithm": "sgd", "momentum": 0.9},
    {"name": "sgd nesterov", "algorithm": "sgd", "momentum": 0.9, "nesterov": True},
    {"name": "adam", "algorithm": "adam"},
    {"name": "adamw", "algorithm": "adamw"},
    {"name": "adamw betas", "algorithm": "adamw", "beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
    {"name": "adam clipped", "algorithm": "adam", "clip_norm": 0.5},
    {"name": "adamw clipped", "algorithm": "adamw", "clip_norm": 0.5},
    {"name": "sgd momentum clipped", "algorithm": "sgd", "momentum": 0.9, "clip_norm": 0.5},
]

for c in cases:
    params = {n: torch.tensor(v, dtype=torch.float32, requires_grad=True) for n, v in init.items()}
    groups = [
        {"params": [params["head.w"]], "lr": LR * 10, "weight_decay": 0.0},
        {"params": [params["body.b"]], "lr": LR * 0.5, "weight_decay": 0.2},
        {"params": [params["body.w"]]},
    ]
    alg = c["algorithm"]
    if alg == "sgd":
        opt = torch.optim.SGD(groups, lr=LR, momentum=c.get("momentum", 0.0),
                              nesterov=c.get("nesterov", False), weight_decay=WD)
    else:
        cls = torch.optim.Adam if alg == "adam" else torch.optim.AdamW
        opt = cls(groups, lr=LR, betas=(c.get("beta1", 0.9), c.get("beta2", 0.999)),
                  eps=c.get("eps", 1e-8), weight_decay=WD)
    after = []
    for g in grads:
        for n, p in params.items():
            p.grad = torch.tensor(g[n], dtype=torch.float32)
        if "clip_norm" in c:
            torch.nn.utils.clip_grad_norm_(list(params.values()), c["clip_norm"])
        opt.step()
        after.append({n: p.detach().tolist() for n, p in params.items()})
    c["after"] = after

json.dump({"generator": "torch " + torch.__version__, "lr": LR, "weight_decay": WD,
           "init": init, "grads": grads, "cases": cases}, __import__("sys").stdout, indent=1)
print()
