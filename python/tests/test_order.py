"""The epoch order against Go: shared vectors written by a Go test
(trainer/data/testdata/order.json) and `trainer order` itself."""

import json
import subprocess

import numpy as np
import pytest

import shardsmith
from shardsmith._order import PCG, order

from conftest import TESTDATA


@pytest.fixture(scope="module")
def vectors():
    with open(TESTDATA / "order.json") as f:
        return json.load(f)


def test_pcg_matches_go(vectors):
    assert len(vectors["pcg"]) >= 4
    for v in vectors["pcg"]:
        r = PCG(v["seed1"], v["seed2"])
        assert [r.uint64() for _ in v["uint64"]] == v["uint64"]
        r = PCG(v["seed1"], v["seed2"])
        assert [r.uint64n(n) for n in v["n"]] == v["uint64n"]
        assert PCG(v["seed1"], v["seed2"]).perm(len(v["perm"])) == v["perm"]


def test_orders_match_go(vectors):
    assert len(vectors["orders"]) > 20
    for v in vectors["orders"]:
        got = order(v["batch_rows"], v["shuffle"], v["seed"], v["epoch"], v["window"])
        assert got.tolist() == v["order"], v


def test_order_is_a_permutation_that_changes_per_epoch(version_dir):
    train = shardsmith.open(version_dir)["train"]
    e0, e1 = train.order(seed=3, epoch=0), train.order(seed=3, epoch=1)
    assert sorted(e0.tolist()) == list(range(len(train)))
    assert not np.array_equal(e0, e1)
    assert np.array_equal(train.order(3, 0, shuffle=False), np.arange(len(train)))


@pytest.mark.parametrize("variant", ["ipc", "parquet"])
@pytest.mark.parametrize("seed,epoch,window", [(1, 0, None), (7, 3, 100), (2**64 - 1, 1, 1)])
def test_trainer_order_command(gobin, built, variant, seed, epoch, window):
    """`trainer order` prints the same sequence (the Go binary from this tree)."""
    args = [str(gobin / "trainer"), "order", "--shards", str(built[variant]), "--seed", str(seed), "--epoch", str(epoch)]
    if window:
        args += ["--window", str(window)]
    go = [int(x) for x in subprocess.run(args, check=True, capture_output=True, text=True).stdout.split()]
    train = shardsmith.open(built[variant])["train"]
    kw = {"window": window} if window else {}
    assert train.order(seed, epoch, **kw).tolist() == go
    assert len(go) == len(train) == 480
