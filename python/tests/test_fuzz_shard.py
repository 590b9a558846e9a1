"""Property-based fuzzing of the shard reader (Hypothesis): a valid shard
that prep wrote (Arrow IPC with zstd and uncompressed, Parquet, uint8),
damaged by flipped, overwritten, inserted or cut bytes, is read through
Split (the checks of the schema, the metadata, the columns and the rows)
and raises nothing but ShardError; a shard it accepts yields the rows the
manifest lists, with the image shape of the version.

The manifest given to the reader carries the damaged file's size and
SHA-256, so the hash check passes and the structural checks are what is
fuzzed. 200 examples per shard kind by default; HYPOTHESIS_PROFILE=long runs
20000 (see conftest.py).
"""

import dataclasses
import hashlib
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

import shardsmith
from shardsmith import ShardError
from shardsmith.dataset import Dataset

# the test split: one shard of 100 rows
SPLIT = "test"


@pytest.fixture(scope="session")
def shard_case(built, tmp_path_factory):
    """variant → (manifest, original shard bytes, directory to write the damaged shard in, its name)."""
    cases = {}
    for variant in ("ipc", "plain", "parquet", "u8"):
        ds = shardsmith.open(built[variant])
        sp = ds.manifest.split(SPLIT)
        (sh,) = sp.shards
        with open(os.path.join(ds.dir, sh.path), "rb") as f:
            data = f.read()
        cases[variant] = (ds.manifest, data, tmp_path_factory.mktemp("damaged-" + variant), sh)
    return cases


@st.composite
def damage(draw, data: bytes):
    """data with a few edits, half of them near the ends (headers, footers, metadata)."""
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        n = len(b)
        if n == 0:
            break
        region = draw(st.sampled_from(["head", "tail", "any"]))
        i = {"head": draw(st.integers(0, min(n, 256) - 1)), "tail": n - 1 - draw(st.integers(0, min(n, 1024) - 1)),
             "any": draw(st.integers(0, n - 1))}[region]
        op = draw(st.sampled_from(["flip", "flip", "set", "overwrite", "insert", "delete", "truncate"]))
        if op == "flip":
            b[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            b[i] = draw(st.sampled_from([0, 0x7F, 0x80, 0xFF]))
        elif op == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            b[i:i + len(chunk)] = chunk
        elif op == "insert":
            b[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del b[i:i + draw(st.integers(1, 64))]
        else:
            del b[i:]
    return bytes(b)


def read_damaged(case, data: bytes, pixels="stored"):
    """Reads data as the split's only shard, with a manifest naming its size and hash."""
    m, _, d, sh = case
    with open(d / sh.path, "wb") as f:
        f.write(data)
    sh2 = dataclasses.replace(sh, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    sp = dataclasses.replace(m.split(SPLIT), shards=[sh2])
    ds = Dataset(str(d), dataclasses.replace(m, splits=[sp]), pixels=pixels)
    split = ds[SPLIT]
    batches = split.batch_rows()
    rows = split.take(np.arange(len(split)))
    return split, batches, rows


def check(case, data: bytes, pixels="stored"):
    try:
        split, batches, rows = read_damaged(case, data, pixels)
    except ShardError as e:
        assert e.field and e.path.endswith(case[3].path)
        event("refused: " + e.field)
        return
    event("accepted")
    m = case[0]
    assert sum(sum(b) for b in batches) == len(split) == case[3].rows
    assert rows["image"].shape == (len(split), m.image.height, m.image.width, m.image.channels)
    assert len(rows["label"]) == len(rows["source_index"]) == len(rows["copy"]) == len(split)


@pytest.mark.parametrize("variant", ["ipc", "plain", "parquet", "u8"])
def test_undamaged_shard_reads(shard_case, variant):
    """The property's starting point: the shard as prep wrote it is accepted."""
    case = shard_case[variant]
    split, batches, rows = read_damaged(case, case[1])
    assert len(split) == 100 and sum(sum(b) for b in batches) == 100


def _property(variant, pixels="stored"):
    @settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def test(shard_case, data):
        case = shard_case[variant]
        check(case, data.draw(damage(case[1]), label="shard"), pixels)
    return test


test_damaged_ipc_zstd = _property("ipc")
test_damaged_ipc_uncompressed = _property("plain")
test_damaged_parquet = _property("parquet")
test_damaged_uint8_as_float32 = _property("u8", pixels="float32")
