"""shardsmith.open and Split: resolution, manifest checks, shard checks and
the rows, against what the Go reader reads (ReadSplit order) and the IDX
source."""

import json
import os
import re
import shutil

import numpy as np
import pyarrow as pa
import pytest

import shardsmith
from shardsmith import ManifestError, ShardError


def test_open_resolves_like_shards_flag(built, version_dir, tmp_path):
    root = built["ipc"]
    dirs = {os.path.realpath(shardsmith.open(p).dir) for p in
            (root, root / "tiny", version_dir, version_dir / "manifest.json")}
    assert dirs == {os.path.realpath(version_dir)}
    with pytest.raises(FileNotFoundError, match="no dataset version here"):
        shardsmith.open(tmp_path)
    both = tmp_path / "both"
    both.mkdir()
    for n in ("a", "b"):
        shutil.copytree(root / "tiny", both / n, symlinks=True)
    with pytest.raises(ValueError, match=r"holds 2 datasets; name one of:\n  .*a\n  .*b"):
        shardsmith.open(both)


def test_attributes(version_dir):
    ds = shardsmith.open(version_dir)
    m = json.loads((version_dir / "manifest.json").read_text())
    assert ds.version == m["version"] and len(ds.version) == 64 and ds.short_version == os.path.basename(os.path.realpath(version_dir))
    assert ds.classes == [str(i) for i in range(10)]
    assert ds.shape == (6, 6, 1)
    assert ds.splits == ["train", "val", "test"]
    assert ds.normalize.mode == "compute" and len(ds.normalize.std) == 1 and ds.normalize.std[0] > 0
    assert [len(ds[s]) for s in ds.splits] == [480, 120, 100]
    with pytest.raises(KeyError, match="no split 'nope'"):
        ds["nope"]


def _arrow_rows(split):
    t = pa.concat_tables(pa.ipc.open_file(p).read_all() for p in split.shards)
    return t


@pytest.mark.parametrize("variant", ["ipc", "parquet", "plain", "u8"])
def test_rows_match_the_shards(built, variant):
    ds = shardsmith.open(built[variant])
    ref = shardsmith.open(built["ipc"])
    for name in ds.splits:
        sp, rs = ds[name], ref[name]
        assert len(sp) == len(rs)
        t = pa.concat_tables(pa.ipc.open_file(p).read_all() for p in rs.shards)
        labels = t.column("label").to_numpy()
        idx = np.arange(len(sp))
        got = sp.take(idx)
        assert np.array_equal(got["label"], labels)
        assert np.array_equal(got["source_index"], t.column("source_index").to_numpy())
        assert np.array_equal(got["copy"], t.column("copy").to_numpy())
        assert got["image"].shape == (len(sp), 6, 6, 1)
        if variant != "u8":
            want = t.column("image").combine_chunks().flatten().to_numpy().reshape(-1, 6, 6, 1)
            assert got["image"].dtype == np.float32 and np.array_equal(got["image"], want)
        row = sp[len(sp) - 1]
        assert set(row) == {"image", "label", "source_index", "copy"}
        assert row["label"] == labels[-1] and isinstance(row["label"], int)
        assert np.array_equal(row["image"], got["image"][-1])
        assert np.array_equal(sp[-1]["image"], row["image"])
        with pytest.raises(IndexError, match=f"row {len(sp)} out of range"):
            sp[len(sp)]


def test_pixels_are_the_idx_bytes(built):
    """uint8 shards hold the source bytes; pixels="float32" of them is bitwise
    the float32 shard, and pixels="uint8" of the float32 shard gives the
    bytes back."""
    u8 = shardsmith.open(built["u8"])
    f32 = shardsmith.open(built["ipc"])
    assert u8.stored_dtype == "uint8" and f32.stored_dtype == "float32"
    assert u8.normalize.mean == f32.normalize.mean and u8.normalize.std == f32.normalize.std
    for s in u8.splits:
        n = np.arange(len(u8[s]))
        raw = u8[s].take(n)["image"]
        assert raw.dtype == np.uint8
        norm = u8.with_pixels("float32")[s].take(n)["image"]
        stored = f32[s].take(n)["image"]
        assert norm.dtype == np.float32 and norm.tobytes() == stored.tobytes()
        assert np.array_equal(f32.with_pixels("uint8")[s].take(n)["image"], raw)
        assert np.array_equal(shardsmith.open(built["u8"], pixels="stored")[s].take(n)["image"], raw)
    with pytest.raises(ValueError, match="pixels='rgb'"):
        shardsmith.open(built["u8"], pixels="rgb")


def test_normalize_table_is_gos():
    """Values of Go's Table for mean 0.1307, std 0.3081 (float32 bits),
    printed by formats/manifest: (x/255 - mean)/std in float64, one rounding."""
    n = shardsmith.Normalize("fixed", 0.1307, 0.3081)
    assert n.mean == (0.1307,) and n.std == (0.3081,)
    t = n.table()
    assert t.dtype == np.float32 and t.shape == (1, 256)
    t = t[0]
    go_bits = {0: 0xbed93270, 1: 0xbed2ae1f, 77: 0x3f0e4ce9, 128: 0x3f9a3d78, 254: 0x4033c2b2, 255: 0x4034933c}
    assert {x: int(t[x:x + 1].view(np.uint32)[0]) for x in go_bits} == go_bits
    assert np.array_equal(n.denormalize(t), np.arange(256))


def test_flipped_byte_names_the_shard(copy_version):
    v = copy_version()
    shard = sorted(v.glob("train-*.arrow"))[1]
    b = bytearray(shard.read_bytes())
    b[len(b) // 2] ^= 1
    shard.write_bytes(bytes(b))
    ds = shardsmith.open(v)
    sp = ds["train"]
    sp[0]  # another shard: fine
    with pytest.raises(ShardError, match=f"shard {shard}: SHA-256 [0-9a-f]{{64}}, manifest says") as e:
        sp[200]
    assert e.value.field == "sha256" and e.value.path == str(shard)
    # a pickled copy (a DataLoader worker) hashes what its original has not
    import pickle
    with pytest.raises(ShardError, match="SHA-256"):
        pickle.loads(pickle.dumps(ds))["train"][200]
    # verify=False trusts the bytes (the size still matches)
    shardsmith.open(v, verify=False)["val"][0]


def test_missing_or_truncated_shard(copy_version):
    v = copy_version()
    shard = sorted(v.glob("test-*.arrow"))[0]
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(ShardError, match="bytes, manifest says") as e:
        shardsmith.open(v)
    assert e.value.field == "bytes"
    shard.unlink()
    with pytest.raises(ShardError, match=f"shard {shard}: No such file") as e:
        shardsmith.open(v)
    assert e.value.field == "file"


def _rewrite_manifest(v, edit):
    p = v / "manifest.json"
    m = json.loads(p.read_text())
    edit(m)
    p.write_text(json.dumps(m))


def test_schema_metadata_checked_against_manifest(copy_version):
    """A manifest whose shards say otherwise (here: the shard hashes are
    made to match a shard of another split) is refused naming the field."""
    v = copy_version()

    def swap(m):
        val = m["splits"][1]["shards"][0]
        tr = m["splits"][0]["shards"][0]
        shutil.copyfile(v / val["path"], v / tr["path"])
        tr.update({k: val[k] for k in ("bytes", "sha256", "data_sha256")})
    _rewrite_manifest(v, swap)
    with pytest.raises(ShardError, match='schema metadata split = "val" does not match the manifest\'s "train"') as e:
        shardsmith.open(v)["train"][0]
    assert e.value.field == "split" and e.value.got == '"val"'


@pytest.mark.parametrize("edit,msg", [
    (lambda m: m.update(extra=1), 'unknown field "extra"'),
    (lambda m: m["image"].update(height=2.5), "field image.height: expected int"),
    (lambda m: m["image"].update(height=0), "image shape 0x6x1 is not valid"),
    (lambda m: m.update(version="abc"), 'version "abc" is not a 64-digit hex SHA-256'),
    (lambda m: m["normalize"].update(std=0), "normalize.std 0, expected a finite number > 0"),
    (lambda m: m["normalize"].update(mode="none"), 'normalize mode "none" needs image dtype uint8'),
    (lambda m: m["splits"][0]["shards"][0].update(path="../x.arrow"), 'shard path "../x.arrow" is not a plain file name'),
    (lambda m: m["splits"][0].update(rows=481), "split train: rows 481, but shards hold 480"),
    (lambda m: m["splits"].append(dict(m["splits"][0])), "split train listed twice"),
    (lambda m: m.update(classes=[]), "no classes"),
    (lambda m: m["normalize"].update(mean=float("nan")), "invalid JSON literal NaN"),
])
def test_manifest_rules(copy_version, edit, msg):
    v = copy_version()
    _rewrite_manifest(v, edit)
    with pytest.raises(ManifestError, match=f"manifest {v / 'manifest.json'}: .*{msg}"):
        shardsmith.open(v)


def test_manifest_syntax(copy_version):
    v = copy_version()
    p = v / "manifest.json"
    text = p.read_text()
    p.write_text(text + "{}")
    with pytest.raises(ManifestError, match="trailing data"):
        shardsmith.open(v)
    p.write_text(text[:100])
    with pytest.raises(ManifestError, match="offset"):
        shardsmith.open(v)
    p.write_text(re.sub(r'"mean": [^,}]+', '"mean": 1e400', text))
    with pytest.raises(ManifestError, match="number 1e400 is out of the range of float64"):
        shardsmith.open(v)
    p.write_text("")
    with pytest.raises(ManifestError, match="empty file"):
        shardsmith.open(v)


def test_pickles_for_workers(version_dir):
    import pickle
    ds = shardsmith.open(version_dir)
    a = ds["train"][5]
    b = pickle.loads(pickle.dumps(ds))["train"][5]
    assert np.array_equal(a["image"], b["image"]) and a["label"] == b["label"]
