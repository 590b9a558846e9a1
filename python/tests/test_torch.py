"""shardsmith.torch.Loader: every row once per epoch across workers and
ranks, a global order independent of both, and exact mid-epoch resume, also
after a change of world size."""

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # noqa: E402  (CI installs it; see .ci/run)

import shardsmith  # noqa: E402
from shardsmith.torch import Loader  # noqa: E402

SEED = 11


@pytest.fixture(scope="module")
def train(version_dir):
    return shardsmith.open(version_dir)["train"]


def indices(batches):
    return [i for b in batches for i in b["index"].tolist()]


def run_ranks(loaders, steps=None):
    """Iterates loaders (one per rank) in lockstep, as DDP does; returns the
    global sequence of rows in (step, rank) order and the batches per rank."""
    its = [iter(l) for l in loaders]
    seq, per_rank, step = [], [[] for _ in loaders], 0
    while steps is None or step < steps:
        got = [next(it, None) for it in its]
        if all(g is None for g in got):
            break
        for r, g in enumerate(got):
            if g is not None:
                per_rank[r].append(g)
                seq += g["index"].tolist()
        step += 1
    return seq, per_rank


@pytest.mark.parametrize("workers", [0, 2, 3])
def test_one_rank_follows_the_trainer_order(train, workers):
    l = Loader(train, batch_size=7, seed=SEED, num_workers=workers)
    assert len(l) == 69
    e0 = list(l)
    assert indices(e0) == train.order(SEED, 0).tolist()
    assert [len(b["index"]) for b in e0] == [7] * 68 + [4]
    e1 = list(l)
    assert indices(e1) == train.order(SEED, 1).tolist() != indices(e0)
    b = e0[3]
    rows = train.take(b["index"].numpy())
    assert b["image"].shape == (7, 6, 6, 1) and b["image"].dtype == torch.float32
    assert np.array_equal(b["image"].numpy(), rows["image"])
    assert b["label"].tolist() == rows["label"].tolist() and b["source_index"].tolist() == rows["source_index"].tolist()


@pytest.mark.parametrize("world,workers", [(1, 0), (2, 0), (3, 2), (4, 1)])
def test_ranks_see_every_row_once_in_the_global_order(train, world, workers):
    loaders = [Loader(train, batch_size=7, seed=SEED, num_workers=workers, rank=r, world_size=world) for r in range(world)]
    seq, per_rank = run_ranks(loaders)
    assert seq == train.order(SEED, 0).tolist()  # so: every row exactly once, whatever world and workers
    assert max(len(p) for p in per_rank) - min(len(p) for p in per_rank) <= 1
    for r, p in enumerate(per_rank):
        assert len(p) == len(loaders[r])


def test_drop_last_and_no_shuffle(train):
    l = Loader(train, batch_size=100, shuffle=False, drop_last=True, rank=1, world_size=2)
    got = list(l)
    assert indices(got) == list(range(100, 200)) + list(range(300, 400))  # the short last step (400-480) dropped


@pytest.mark.parametrize("world_before,world_after,workers", [(2, 2, 0), (2, 3, 2), (3, 1, 0), (1, 4, 3)])
def test_resume_mid_epoch_yields_exactly_the_rest(train, world_before, world_after, workers):
    order = train.order(SEED, 0).tolist()
    before = [Loader(train, batch_size=9, seed=SEED, num_workers=workers, rank=r, world_size=world_before)
              for r in range(world_before)]
    seen, _ = run_ranks(before, steps=5)
    states = [json.loads(json.dumps(l.state_dict())) for l in before]
    assert all(s == states[0] for s in states) and states[0]["seen"] == len(seen) == 5 * 9 * world_before
    after = [Loader(train, batch_size=9, seed=SEED, num_workers=workers, rank=r, world_size=world_after)
             for r in range(world_after)]
    for l in after:
        l.load_state_dict(states[0])
    rest, _ = run_ranks(after)
    assert seen + rest == order
    # and the next epoch starts from its beginning
    nxt, _ = run_ranks(after)
    assert nxt == train.order(SEED, 1).tolist()


def test_resume_at_an_epoch_end_goes_to_the_next_epoch(train):
    l = Loader(train, batch_size=64, seed=SEED)
    it = iter(l)
    for _ in range(len(l)):
        next(it)
    s = l.state_dict()
    assert (s["epoch"], s["seen"]) == (0, len(train))
    m = Loader(train, batch_size=64, seed=SEED)
    m.load_state_dict(s)
    assert indices(m) == train.order(SEED, 1).tolist()


def test_state_of_another_loader_is_refused(train):
    s = Loader(train, batch_size=8, seed=1).state_dict()
    with pytest.raises(ValueError, match="loader state has seed 1, this loader 2"):
        Loader(train, batch_size=8, seed=2).load_state_dict(s)
    with pytest.raises(ValueError, match="out of range"):
        Loader(train, batch_size=8, seed=1).load_state_dict(dict(s, seen=10**9))


def test_rank_from_torch_distributed(train, tmp_path):
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        l = Loader(train, batch_size=50, seed=SEED)
        assert (l.rank, l.world_size) == (0, 1)
        assert indices(l) == train.order(SEED, 0).tolist()
    finally:
        dist.destroy_process_group()


def test_uint8_shards_give_the_trainers_floats(built):
    f = Loader(shardsmith.open(built["ipc"])["train"], batch_size=32, seed=SEED)
    u = Loader(shardsmith.open(built["u8"], pixels="float32")["train"], batch_size=32, seed=SEED)
    for a, b in zip(f, u):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])


@pytest.mark.parametrize("workers", [0, 2])
def test_an_iterator_abandoned_until_exit_ends_quietly(version_dir, workers):
    """A script that stops reading mid-epoch and exits: no "Exception
    ignored" noise from closing the iterator during interpreter shutdown."""
    script = (
        "import sys, shardsmith\n"
        "from shardsmith.torch import Loader\n"
        "it = iter(Loader(shardsmith.open(sys.argv[1])['train'], batch_size=7, seed=1, num_workers=int(sys.argv[2])))\n"
        "for _ in range(3):\n"
        "    next(it)\n"
    )
    p = subprocess.run([sys.executable, "-c", script, str(version_dir), str(workers)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "Exception ignored" not in p.stderr and "Traceback" not in p.stderr, p.stderr
