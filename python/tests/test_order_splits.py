"""`trainer order --split S` against Split.order for every split, not only
train (the val and test splits are one shard each here, of several record
batches), shuffled and in manifest order."""

import subprocess

import pytest

import shardsmith


@pytest.mark.parametrize("split", ["train", "val", "test"])
@pytest.mark.parametrize("shuffle", [True, False])
def test_trainer_order_of_each_split(gobin, built, split, shuffle):
    args = [str(gobin / "trainer"), "order", "--shards", str(built["ipc"]), "--split", split, "--seed", "9",
            "--epoch", "2"]
    if not shuffle:
        args.append("--no-shuffle")
    run = subprocess.run(args, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    go = [int(x) for x in run.stdout.split()]
    sp = shardsmith.open(built["ipc"])[split]
    assert sp.order(9, 2, shuffle=shuffle).tolist() == go
    assert sorted(go) == list(range(len(sp))) and len(go) > 50
