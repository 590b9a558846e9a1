"""The Loader's batch buffers (shardsmith.torch._Slots): images gathered by
workers into shared slots and handed out in place. A batch the consumer keeps
is never overwritten by a later one, a consumer that drops its batches gets
the slots reused, and spawned workers (no fork) read the same."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # noqa: E402

import shardsmith  # noqa: E402
from shardsmith.torch import HOLD, Loader  # noqa: E402

SEED = 5


@pytest.fixture(scope="module")
def train(version_dir):
    return shardsmith.open(version_dir)["train"]


def check(train, batch):
    rows = train.take(batch["index"].numpy())
    assert np.array_equal(batch["image"].numpy(), rows["image"])
    assert batch["label"].tolist() == rows["label"].tolist()
    assert batch["copy"].tolist() == rows["copy"].tolist()
    assert batch["source_index"].tolist() == rows["source_index"].astype(np.int64).tolist()


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_kept_batches_stay_intact(train, workers):
    # the whole epoch held at once: far more batches than slots
    got = list(Loader(train, batch_size=8, seed=SEED, num_workers=workers))
    assert len(got) == 60
    assert [i for b in got for i in b["index"].tolist()] == train.order(SEED, 0).tolist()
    for b in got:
        check(train, b)


@pytest.mark.parametrize("workers", [0, 2])
def test_dropped_batches_free_their_slots(train, workers):
    l = Loader(train, batch_size=8, seed=SEED, num_workers=workers)
    ptrs, n = set(), 0
    for b in l:
        check(train, b)
        ptrs.add(b["image"].data_ptr())
        n += 1
    # in place from a few slots per worker (the DataLoader's prefetch_factor 2 + HOLD), not one buffer per batch
    assert n == 60 and len(ptrs) <= max(workers, 1) * (2 + HOLD)


def test_views_keep_their_slot(train):
    # a view of a batch's image outlives the batch: its slot must not be reused while it lives
    l = Loader(train, batch_size=8, seed=SEED, num_workers=2)
    kept = []
    for k, b in enumerate(l):
        if k % 7 == 0:
            kept.append((b["image"][1:3], train.take(b["index"].numpy()[1:3])["image"]))
    assert len(kept) == 9
    for view, want in kept:
        assert np.array_equal(view.numpy(), want)


def test_spawned_workers(train):
    l = Loader(train, batch_size=50, seed=SEED, num_workers=2, multiprocessing_context="spawn")
    got = list(l)
    assert [i for b in got for i in b["index"].tolist()] == train.order(SEED, 0).tolist()
    for b in got:
        check(train, b)


def test_uint8_shards_as_floats_with_workers(built):
    f = shardsmith.open(built["ipc"])["train"]
    u = shardsmith.open(built["u8"], pixels="float32")["train"]
    for a, b in zip(Loader(f, batch_size=16, seed=SEED, num_workers=2), Loader(u, batch_size=16, seed=SEED, num_workers=2)):
        assert b["image"].dtype == torch.float32 and torch.equal(a["image"], b["image"])


def test_break_mid_epoch_then_resume(train):
    l = Loader(train, batch_size=8, seed=SEED, num_workers=2)
    seen = []
    for k, b in enumerate(l):
        seen += b["index"].tolist()
        if k == 4:
            break
    state = l.state_dict()
    m = Loader(train, batch_size=8, seed=SEED, num_workers=2)
    m.load_state_dict(state)
    assert seen + [i for b in m for i in b["index"].tolist()] == train.order(SEED, 0).tolist()


def test_resume_with_another_batch_size(train):
    l = Loader(train, batch_size=8, seed=SEED)
    it, seen = iter(l), []
    for _ in range(7):
        seen += next(it)["index"].tolist()
    m = Loader(train, batch_size=30, seed=SEED, num_workers=2)
    m.load_state_dict(l.state_dict())
    rest = list(m)
    assert [len(b["index"]) for b in rest] == [30] * 14 + [4]
    assert seen + [i for b in rest for i in b["index"].tolist()] == train.order(SEED, 0).tolist()


def test_pin_memory_and_dataloader_options(train):
    # pin_memory is the Loader's (a no-op without CUDA); the rest reach the DataLoader
    calls = []
    l = Loader(train, batch_size=40, seed=SEED, num_workers=1, pin_memory=True, prefetch_factor=3,
               worker_init_fn=calls.append)
    got = list(l)
    assert [i for b in got for i in b["index"].tolist()] == train.order(SEED, 0).tolist()
    for b in got:
        check(train, b)
    with pytest.raises(TypeError, match="collate_fn is the Loader's to set"):
        Loader(train, batch_size=8, collate_fn=list)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_damaged_shard_stops_the_loader_before_any_batch(copy_version, workers):
    from shardsmith import ShardError
    v = copy_version()
    shard = sorted(v.glob("train-*.arrow"))[2]
    b = bytearray(shard.read_bytes())
    b[len(b) // 3] ^= 0x10
    shard.write_bytes(bytes(b))
    l = Loader(shardsmith.open(v)["train"], batch_size=8, seed=SEED, num_workers=workers)
    got = []
    with pytest.raises(ShardError, match=f"shard {shard}: SHA-256") as e:
        for batch in l:
            got.append(batch)
    assert got == [] and e.value.field == "sha256"


def test_first_epoch_from_record_batches_then_from_shard_arrays(built):
    # a fresh split: the first epoch gathers from the decoded record batches (no concatenation before its
    # first batch); after it the shards are one array each, and the second epoch reads from those
    train = shardsmith.open(built["ipc"])["train"]
    l = Loader(train, batch_size=16, seed=SEED, num_workers=2)
    first = list(l)
    assert all(d._cols is not None for d in train._shards.values()) and len(train._shards) == 4
    g = train.gather(train.order(SEED, 1))
    assert len(g._images) == 4  # one piece per shard (the first epoch's had one per 50-row record batch: 12)
    second = list(l)
    for b in first + second:
        check(train, b)
    assert [i for b in second for i in b["index"].tolist()] == train.order(SEED, 1).tolist()
