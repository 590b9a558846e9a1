"""What comes before the first batch: the epoch order from the manifest's
shard row counts, reading only the shards whose record batch sizes change
it; the shards checked on a few threads while the order is drawn; and still
no row of a damaged shard used, whichever of the two reads it."""

import os
import random

import numpy as np
import pytest

import shardsmith
from shardsmith import ShardError
from shardsmith._order import DEFAULT_WINDOW, EPOCH_SALT, PCG, order, order_of


def reference_order(batch_rows, seed, epoch, window):
    """The algorithm of _order's documentation, one row and one batch at a
    time (trainer/data/order.go's loop), with every batch size given."""
    offsets, total = [], 0
    for b in batch_rows:
        offsets.append(total)
        total += sum(b)
    rng = PCG(seed, epoch + EPOCH_SALT)
    shards = list(range(len(batch_rows)))
    rng.shuffle(shards)
    out, win = [], []
    for si in shards:
        row = offsets[si]
        for n in batch_rows[si]:
            win.extend(range(row, row + n))
            row += n
            if len(win) >= window:
                rng.shuffle(win)
                out += win
                win = []
    if win:
        rng.shuffle(win)
        out += win
    return out


def layouts(rnd):
    shards = []
    for _ in range(rnd.randint(1, 7)):
        shards.append([rnd.choice([0, 1, rnd.randint(1, 9), rnd.randint(10, 60)]) for _ in range(rnd.randint(1, 5))])
    return shards


@pytest.mark.parametrize("case", range(300))
def test_order_of_asks_only_where_batches_matter(case):
    rnd = random.Random(case)
    batch_rows = layouts(rnd)
    rows = [sum(b) for b in batch_rows]
    total = sum(rows)
    # windows at every cumulative shard boundary (a window emitted exactly at a shard's end needs no batch
    # sizes), around them, small ones and ones larger than the split
    cum = np.cumsum(rows).tolist()
    window = rnd.choice([1, 2, 3, rnd.randint(1, max(1, total)), total, total + 1, DEFAULT_WINDOW] +
                        [c + d for c in cum for d in (-1, 0, 1) if c + d > 0])
    seed, epoch = rnd.getrandbits(64), rnd.randint(0, 5)
    asked = []

    def batches(i):
        asked.append(i)
        return batch_rows[i]
    got = order_of(rows, batches, True, seed, epoch, window)
    assert got.dtype == np.int64
    assert got.tolist() == reference_order(batch_rows, seed, epoch, window)
    assert order(batch_rows, True, seed, epoch, window).tolist() == got.tolist()
    assert len(asked) == len(set(asked))
    if window >= total:
        assert asked == []  # the whole split is one window


def test_order_of_refuses_batches_that_do_not_add_up():
    with pytest.raises(ValueError, match="shard 0: record batches of 3 rows, expected 5"):
        order_of([5, 5], lambda i: [1, 2], True, 1, 0, 2)


def test_split_order_reads_no_shard_when_the_window_holds_the_split(version_dir, gobin):
    import subprocess
    train = shardsmith.open(version_dir)["train"]
    got = train.order(4, 2)
    assert train._shards == {}  # nothing read, nothing hashed
    go = subprocess.run([str(gobin / "trainer"), "order", "--shards", str(version_dir), "--seed", "4", "--epoch", "2"],
                        check=True, capture_output=True, text=True).stdout.split()
    assert got.tolist() == [int(x) for x in go]
    # a window smaller than a shard: the shards the window is emitted inside are read, so checked
    small = train.order(4, 2, window=30)
    assert 0 < len(train._shards) <= len(train._sp.shards)
    go = subprocess.run([str(gobin / "trainer"), "order", "--shards", str(version_dir), "--seed", "4", "--epoch", "2",
                         "--window", "30"], check=True, capture_output=True, text=True).stdout.split()
    assert small.tolist() == [int(x) for x in go]


def damage(v, which):
    shard = sorted(v.glob("train-*.arrow"))[which]
    b = bytearray(shard.read_bytes())
    b[len(b) // 2] ^= 0x01
    shard.write_bytes(bytes(b))
    return shard


def test_the_order_of_a_damaged_version_uses_no_row_of_it(copy_version):
    v = copy_version()
    shard = damage(v, 1)
    train = shardsmith.open(v)["train"]
    assert sorted(train.order(1, 0).tolist()) == list(range(len(train)))  # manifest row counts only
    with pytest.raises(ShardError, match="SHA-256") as e:
        train.take(train.order(1, 0)[:5])  # five rows of the whole split's window: from every shard
    assert e.value.path == str(shard)
    # a window that makes the order read the damaged shard itself: the shard's error, from the order
    with pytest.raises(ShardError, match="SHA-256") as e:
        shardsmith.open(v)["train"].order(1, 0, window=20)
    assert e.value.path == str(shard) and e.value.field == "sha256"


torch_needed = pytest.mark.skipif(not __import__("importlib").util.find_spec("torch"), reason="needs torch")


@torch_needed
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("which", [0, 1, 3])
@pytest.mark.parametrize("window", [None, 20])
def test_a_damaged_shard_yields_none_of_its_rows(copy_version, version_dir, workers, which, window):
    """The second (or any) shard damaged: the Loader fails naming it before
    any of its rows is yielded, whether the pool reading shards or the order
    (small window) meets it first; the good shards' rows that came before are
    rows of the epoch's order."""
    from shardsmith.torch import Loader
    v = copy_version()
    shard = damage(v, which)
    train = shardsmith.open(v)["train"]
    bad = set(range(int(train._starts[which]), int(train._starts[which + 1])))
    kw = {"window": window} if window else {}
    got = []
    with pytest.raises(ShardError, match="SHA-256") as e:
        for b in Loader(train, batch_size=8, seed=3, num_workers=workers, **kw):
            got += b["index"].tolist()
    assert e.value.path == str(shard)
    assert not bad & set(got)
    good = shardsmith.open(version_dir)["train"].order(3, 0, **kw).tolist()  # the undamaged original
    assert got == good[:len(got)]


def test_a_shard_changed_after_open_is_checked_when_read(copy_version):
    v = copy_version()
    ds = shardsmith.open(v)
    shard = sorted(v.glob("val-*.arrow"))[0]
    with open(shard, "r+b") as f:
        f.truncate(os.path.getsize(shard) - 1)
    with pytest.raises(ShardError, match="bytes, manifest says") as e:
        ds["val"][0]
    assert e.value.field == "bytes" and e.value.path == str(shard)


def _mark_worker(d, wid):
    open(os.path.join(d, f"worker-{wid}"), "w").close()


@torch_needed
@pytest.mark.parametrize("workers", [1, 2])
def test_the_first_batch_comes_before_the_workers_start(version_dir, tmp_path, workers):
    """With workers the Loader makes an epoch's first batch itself and starts
    them when the second is asked for; the batches are still the epoch's
    order, each row once, and the next epoch starts the same way."""
    import functools
    from shardsmith.torch import Loader
    train = shardsmith.open(version_dir)["train"]
    for epoch in range(2):
        marks = tmp_path / f"e{epoch}"
        marks.mkdir()
        l = Loader(train, batch_size=16, seed=3, num_workers=workers,
                   worker_init_fn=functools.partial(_mark_worker, str(marks)))
        l.epoch = epoch
        it = iter(l)
        first = next(it)
        assert os.listdir(marks) == []  # no worker process has run yet
        rows = first["index"].tolist() + [i for b in it for i in b["index"].tolist()]
        assert sorted(os.listdir(marks)) == [f"worker-{w}" for w in range(workers)]
        assert rows == train.order(3, epoch).tolist()
        want = train.take(first["index"].numpy())
        assert np.array_equal(first["image"].numpy(), want["image"]) and first["label"].tolist() == want["label"].tolist()
