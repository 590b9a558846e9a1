"""Decoded copies of compressed shards in the shard cache (shardsmith._decoded):
written once a shard has been checked and read whole, read by later opens
with the same rows and the same epoch order as the shards themselves, never
used where they fail their own checks, and shared safely by processes."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

import shardsmith
from shardsmith import _decoded

COMPRESSED = ("ipc", "u8", "parquet")


def _all(split):
    return split.take(range(len(split)))


def _copies(cache):
    return sorted(n for n in os.listdir(cache) if n.endswith(_decoded.SUFFIX)) if os.path.isdir(cache) else []


def _fill(version, cache):
    """Opens version with cache and reads every split whole: its decoded copies are written."""
    ds = shardsmith.open(version, cache_dir=str(cache))
    for s in ds.splits:
        _all(ds[s])
    return ds


def _same(a, b):
    assert set(a) == set(b)
    for k in a:
        assert (a[k] == b[k]).all(), k


def _from_copy(split, i=0):
    return split._shard(i).blocks is not None


@pytest.mark.parametrize("variant", COMPRESSED + ("plain",))
def test_a_second_open_reads_the_copies_with_the_same_rows(built, variant, tmp_path):
    version, cache = built[variant] / "tiny" / "latest", tmp_path / "cache"
    plain = shardsmith.open(version, decoded_cache=False)
    ds = _fill(version, cache)
    want = {sh.sha256 + _decoded.SUFFIX for sp in ds.manifest.splits for sh in sp.shards if sh.rows}
    if variant == "plain":  # uncompressed Arrow IPC is read in place: nothing to keep
        assert _copies(cache) == []
        return
    assert set(_copies(cache)) == want
    again = shardsmith.open(version, cache_dir=str(cache))
    for s in ds.splits:
        assert _from_copy(again[s])
        _same(_all(again[s]), _all(plain[s]))
        assert again[s].batch_rows() == plain[s].batch_rows()
    assert not [n for n in os.listdir(cache) if n.startswith(".")], "no temporary file left"


def test_source_paths_come_back_from_the_copies(built_colour, tmp_path):
    version, cache = built_colour["tree"], tmp_path / "cache"
    plain = shardsmith.open(version, decoded_cache=False)
    _fill(version, cache)
    again = shardsmith.open(version, cache_dir=str(cache))
    assert _from_copy(again["train"])
    _same(_all(again["train"]), _all(plain["train"]))


@pytest.mark.parametrize("workers", [0, 2])
def test_the_loader_on_copies_gives_the_shards_order_and_rows(version_dir, tmp_path, workers):
    from shardsmith.torch import Loader

    cache = tmp_path / "cache"
    # the first epoch writes the copies (at its end); a window of 100 ends inside shards of batches of 50,
    # so the order needs the record batch sizes the copies keep
    first = Loader(shardsmith.open(version_dir, cache_dir=str(cache))["train"], batch_size=32, seed=3, window=100)
    list(first)
    assert _copies(cache)
    plain = shardsmith.open(version_dir, decoded_cache=False)["train"]
    split = shardsmith.open(version_dir, cache_dir=str(cache))["train"]
    for epoch in (0, 1):
        assert (split.order(3, epoch, window=100) == plain.order(3, epoch, window=100)).all()
    assert _from_copy(split)
    got = list(Loader(split, batch_size=32, seed=3, window=100, num_workers=workers))
    want = list(Loader(plain, batch_size=32, seed=3, window=100))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        for k in w:
            assert (g[k] == w[k]).all(), k


def _flip(path, at):
    data = bytearray(path.read_bytes())
    data[at] ^= 0x10
    path.write_bytes(bytes(data))


def _image_offset(path, split, row):
    """Where in the copy file the image of local row `row` of shard 0 lies."""
    img = split._shard(0).cols["image"][row].tobytes()
    data = path.read_bytes()
    at = data.find(img)
    assert at > 0 and data.find(img, at + 1) < 0
    return at + len(img) // 2


def _damage(kind, path, split):
    if kind == "image":
        _flip(path, _image_offset(path, split, len(split._shard(0).cols["label"]) - 1))
    elif kind == "label":  # the label column, hashed when the copy is opened
        d = split._shard(0).cols
        data = path.read_bytes()
        at = data.find(d["label"].tobytes())
        assert at > 0
        _flip(path, at + 3)
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    elif kind == "other":  # a sound copy of another shard under this one's name
        other = sorted(p for p in path.parent.iterdir() if p.name.endswith(_decoded.SUFFIX) and p != path)[0]
        path.write_bytes(other.read_bytes())
    elif kind == "empty":
        path.write_bytes(b"")


@pytest.mark.parametrize("kind", ["image", "label", "truncated", "other", "empty"])
def test_a_damaged_copy_is_not_used(version_dir, tmp_path, kind):
    cache = tmp_path / "cache"
    ds = _fill(version_dir, cache)
    sh = ds.manifest.split("train").shards[0]
    path = cache / (sh.sha256 + _decoded.SUFFIX)
    plain = shardsmith.open(version_dir, decoded_cache=False)["train"]
    _damage(kind, path, plain)
    damaged = hashlib.sha256(path.read_bytes()).hexdigest()
    again = shardsmith.open(version_dir, cache_dir=str(cache))["train"]
    _same(_all(again), _all(plain))  # the rows of the shard itself, the damaged bytes not among them
    if kind != "image":  # found when the copy is opened: the shard itself read instead
        assert not _from_copy(again)
    # the damaged copy is gone, and a sound one took its place once the shard was read whole
    assert hashlib.sha256(path.read_bytes()).hexdigest() != damaged
    third = shardsmith.open(version_dir, cache_dir=str(cache))["train"]
    assert _from_copy(third)
    _same(_all(third), _all(plain))


@pytest.mark.parametrize("workers", [0, 2])
def test_a_block_damaged_in_the_copy_is_not_used_by_the_loader(version_dir, tmp_path, workers):
    from shardsmith.torch import Loader

    cache = tmp_path / "cache"
    _fill(version_dir, cache)
    plain = shardsmith.open(version_dir, decoded_cache=False)["train"]
    sh = plain._sp.shards[0]
    path = cache / (sh.sha256 + _decoded.SUFFIX)
    _damage("image", path, plain)
    split = shardsmith.open(version_dir, cache_dir=str(cache))["train"]
    assert _from_copy(split), "the damage is in an image block: found when that block is first used"
    got = [b["image"] for b in Loader(split, batch_size=32, seed=5, num_workers=workers)]
    want = [b["image"] for b in Loader(plain, batch_size=32, seed=5)]
    assert all((g == w).all() for g, w in zip(got, want)) and len(got) == len(want)


def test_a_damaged_copy_of_a_damaged_shard_names_the_shard(version_dir, copy_version, tmp_path):
    cache = tmp_path / "cache"
    v = copy_version()
    ds = _fill(v, cache)
    sh = ds.manifest.split("train").shards[0]
    plain = shardsmith.open(v, decoded_cache=False)["train"]
    _damage("image", cache / (sh.sha256 + _decoded.SUFFIX), plain)
    _flip(v / sh.path, sh.bytes // 2)
    split = shardsmith.open(v, cache_dir=str(cache))["train"]
    with pytest.raises(shardsmith.ShardError, match=sh.path) as e:
        _all(split)
    assert e.value.field == "sha256"


def test_to_arrow_checks_the_shard_files_not_the_copies(copy_version, tmp_path):
    cache = tmp_path / "cache"
    v = copy_version()
    ds = _fill(v, cache)
    sh = ds.manifest.split("train").shards[0]
    _flip(v / sh.path, sh.bytes // 2)
    split = shardsmith.open(v, cache_dir=str(cache))["train"]
    _all(split)  # rows from the sound copy (the shard is not read)
    with pytest.raises(shardsmith.ShardError, match=sh.path):
        split.to_arrow()  # reads the shard files themselves


def test_decoded_cache_off_writes_nothing(version_dir, tmp_path):
    cache = tmp_path / "cache"
    ds = shardsmith.open(version_dir, cache_dir=str(cache), decoded_cache=False)
    _all(ds["train"])
    assert _copies(cache) == []


CHILD = """
import hashlib, sys
import shardsmith
ds = shardsmith.open(sys.argv[1], cache_dir=sys.argv[2])
h = hashlib.sha256()
for s in ds.splits:
    r = ds[s].take(range(len(ds[s])))
    for k in sorted(r):
        h.update(r[k].tobytes())
print(h.hexdigest())
"""


def test_processes_writing_the_same_copies_at_once(version_dir, tmp_path):
    cache = tmp_path / "cache"
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(version_dir), str(cache)], stdout=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    ds = shardsmith.open(version_dir, decoded_cache=False)
    h = hashlib.sha256()
    for s in ds.splits:
        r = _all(ds[s])
        for k in sorted(r):
            h.update(r[k].tobytes())
    assert outs == [h.hexdigest()] * 4
    assert not [n for n in os.listdir(cache) if n.startswith(".")], "no temporary file left"
    # every copy whole and sound: a fifth process reads them all
    again = shardsmith.open(version_dir, cache_dir=str(cache))
    for s in again.splits:
        assert all(_from_copy(again[s], i) for i in range(len(again[s].shards)))
        r = _all(again[s])
        sp = again[s]
        for i in range(len(sp.shards)):
            assert sp._shard(i).blocks is None or sp._shard(i).blocks.ok.all()
    assert np.array_equal(_all(again["train"])["label"], _all(ds["train"])["label"])


def test_blocks_workers_hashed_are_not_hashed_again(version_dir, tmp_path):
    """What forked DataLoader workers hashed counts in the process that
    forked them (and so in the next epoch's workers)."""
    from shardsmith.torch import Loader

    cache = tmp_path / "cache"
    _fill(version_dir, cache)
    split = shardsmith.open(version_dir, cache_dir=str(cache))["train"]
    loader = Loader(split, batch_size=16, seed=2, num_workers=2, multiprocessing_context="fork")
    list(loader)  # the first batch in this process, the others in the workers
    blocks = [split._shard(i).blocks for i in range(len(split.shards))]
    assert all(b is None or b.ok.all() for b in blocks), "every block hashed once, whoever hashed it"
