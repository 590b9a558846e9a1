"""Colour versions and image trees: per-channel normalization bitwise as the
Go reader's, the source_path column of image tree sources, the manifest's
skipped files, and the torch Loader's (B, H, W, C) batches, on versions prep
built (conftest.COLOUR) and compared with what formats/dataset reads from
them (tinyset -dump)."""

import json
import os

import numpy as np
import pyarrow as pa
import pytest

import shardsmith
from shardsmith import ShardError

TREE_TRAIN = {"cat/0.png", "cat/1.png", "cat/10.png", "cat/2.png", "cat/3.png", "cat/4.png",
              "dog/a.png", "dog/b.png", "dog/c.png", "dog/deep/d.png", "dog/deep/e.png"}
TREE_TEST = ["cat/t0.png", "cat/t1.png", "dog/deep/t1.png", "dog/t0.png"]


def _bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).reshape(-1)


@pytest.mark.parametrize("name", ["rgb", "rgb-u8", "tree", "tree-u8", "tree-gray"])
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_rows_are_gos(built_colour, go_rows, name, split):
    """Every row as the Go reader reads it: source_index, label, source_path
    and the normalized float32 bits (uint8 shards through the per-channel
    table), images (H, W, C)."""
    ds = shardsmith.open(built_colour[name], pixels="float32")
    go = go_rows(built_colour[name], split)
    sp = ds[split]
    rows = sp.take(range(len(sp)))
    h, w, c = ds.shape
    assert c == (1 if name == "tree-gray" else 3)
    assert rows["image"].shape == (len(sp), h, w, c) and rows["image"].dtype == np.float32
    assert rows["source_index"].tolist() == go["source_index"]
    assert rows["label"].tolist() == go["label"]
    assert _bits(rows["image"]).tolist() == go["image_f32_bits"]
    if name.startswith("tree"):
        assert sp.has_source_paths and rows["source_path"].tolist() == go["source_path"]
        assert sp[0]["source_path"] == go["source_path"][0]
    else:
        assert not sp.has_source_paths and "source_path" not in rows and "source_path" not in sp[0]
        assert go["source_path"] is None


@pytest.mark.parametrize("name", ["rgb", "tree"])
def test_per_channel_normalization(built_colour, name):
    """mean/std are arrays of 3 in manifest.json and in the shard metadata,
    and each value of a uint8 row maps through its own channel's table
    (value i of channel i mod 3) to the float32 shard's value."""
    f32 = shardsmith.open(built_colour[name])
    u8 = shardsmith.open(built_colour[name + "-u8"] if name == "rgb" else built_colour["tree-u8"])
    doc = json.loads((built_colour[name] / "manifest.json").read_bytes())
    assert isinstance(doc["normalize"]["mean"], list) and len(doc["normalize"]["mean"]) == 3
    n = f32.normalize
    assert n.mean == tuple(doc["normalize"]["mean"]) and n.std == tuple(doc["normalize"]["std"]) and n.channels == 3
    assert len(set(n.mean)) == 3  # the channels really differ, so a mix-up of channels shows
    md = pa.ipc.open_file(f32["train"].shards[0]).schema.metadata
    assert md[b"mean"].startswith(b"[") and tuple(json.loads(md[b"mean"])) == n.mean
    t = n.table()
    assert t.shape == (3, 256)
    for ch in range(3):
        want = ((np.arange(256) / 255 - n.mean[ch]) / n.std[ch]).astype(np.float32)
        assert np.array_equal(_bits(t[ch]), _bits(want))
    if name == "rgb":  # the same rows in the same order: floats are the bytes through the tables
        a, b = f32["train"].take(range(8))["image"], u8["train"].take(range(8))["image"]
        assert np.array_equal(_bits(n.apply(b)), _bits(a))
        assert np.array_equal(_bits(t[np.arange(3), b]), _bits(a))
        assert np.array_equal(n.denormalize(a), b)


def test_tree_source_paths_and_skipped(built_colour):
    ds = shardsmith.open(built_colour["tree"])
    m = ds.manifest
    assert [s.name for s in m.sources] == ["train", "test"] and [s.files for s in m.sources] == [11, 4]
    assert m.source_paths
    assert [(s.split, s.path) for s in m.skipped] == [("train", "cat/broken.png")] and "decod" in m.skipped[0].reason
    assert ds["test"].take(range(4))["source_path"].tolist() == TREE_TEST
    seen = [p for sp in ("train", "val") for p in ds[sp].take(range(len(ds[sp])))["source_path"]]
    assert sorted(seen) == sorted(TREE_TRAIN)
    assert ds.classes == ["cat", "dog"]
    for sp in ds.splits:
        r = ds[sp].take(range(len(ds[sp])))
        assert [ds.classes[l] for l in r["label"]] == [p.split("/")[0] for p in r["source_path"]]


def _rewrite(v, name, table):
    """Writes table as shard name of version v and puts its size and hash in the manifest."""
    import hashlib
    p = v / name
    with pa.OSFile(str(p), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(table)
    data = p.read_bytes()
    doc = json.loads((v / "manifest.json").read_bytes())
    for sp in doc["splits"]:
        for sh in sp["shards"]:
            if sh["path"] == name:
                sh["bytes"], sh["sha256"] = len(data), hashlib.sha256(data).hexdigest()
    (v / "manifest.json").write_text(json.dumps(doc))


def test_source_path_column_checked(tmp_path, built_colour):
    """The column is there exactly when the version comes from image tree or
    list sources, utf8, without nulls or invalid UTF-8; anything else names
    the shard."""
    import itertools
    import shutil
    n = itertools.count()

    def copy_version(src):
        dst = tmp_path / f"v{next(n)}"
        shutil.copytree(os.path.realpath(src), dst)
        return dst

    v = copy_version(built_colour["tree"])
    name = next(p for p in sorted(os.listdir(v)) if p.startswith("test-"))
    t = pa.ipc.open_file(str(v / name)).read_all()
    _rewrite(v, name, t.drop_columns(["source_path"]))
    with pytest.raises(ShardError, match="has no source_path column") as e:
        shardsmith.open(v)["test"][0]
    assert e.value.field == "source_path" and name in str(e.value)

    v = copy_version(built_colour["tree"])
    i = t.schema.get_field_index("source_path")
    nulls = t.set_column(i, t.schema.field(i), pa.array(["a", None, "b", "c"], pa.string()))
    _rewrite(v, name, nulls)
    with pytest.raises(ShardError, match="null values"):
        shardsmith.open(v)["test"][0]

    v = copy_version(built_colour["tree"])
    bad = pa.array([b"cat/t0.png", b"cat/\xff.png", b"x", b"y"], pa.binary()).view(pa.string())
    _rewrite(v, name, t.set_column(i, t.schema.field(i), bad))
    with pytest.raises(ShardError, match="row 1: source_path is not valid UTF-8"):
        shardsmith.open(v)["test"][0]

    v = copy_version(built_colour["tree"])
    binary = t.set_column(i, pa.field("source_path", pa.binary()), t.column(i).cast(pa.binary()))
    _rewrite(v, name, binary)
    with pytest.raises(ShardError, match="source_path utf8"):
        shardsmith.open(v)["test"][0]

    v = copy_version(built_colour["rgb"])
    name = next(p for p in sorted(os.listdir(v)) if p.startswith("test-"))
    t = pa.ipc.open_file(str(v / name)).read_all()
    _rewrite(v, name, t.append_column(pa.field("source_path", pa.string()), pa.array(["x"] * len(t), pa.string())))
    with pytest.raises(ShardError, match="has source_path column, but the manifest's sources are IDX"):
        shardsmith.open(v)["test"][0]


def test_torch_loader_rgb(built_colour):
    torch = pytest.importorskip("torch")
    from shardsmith.torch import Loader
    for name in ("rgb", "tree"):
        ds = shardsmith.open(built_colour[name])
        sp = ds["train"]
        seen = []
        for b in Loader(sp, batch_size=4, seed=3):
            assert b["image"].dtype == torch.float32 and tuple(b["image"].shape[1:]) == ds.shape == (*ds.shape[:2], 3)
            assert b["image"].shape[0] <= 4
            want = sp.take(b["index"].numpy())
            assert np.array_equal(b["image"].numpy(), want["image"])
            if name == "tree":
                assert b["source_path"] == want["source_path"].tolist()
            else:
                assert "source_path" not in b
            seen += b["index"].tolist()
        assert sorted(seen) == list(range(len(sp)))
        assert seen == sp.order(3, 0).tolist()


@pytest.mark.parametrize("mean,field", [
    (None, None),                    # as prep wrote it: accepted
    ("[0.1,0.2]", "mean"),           # two values for three channels
    ("0.5", "mean"),                 # one value for three channels
    ("[0.1,0.2,", "format"),         # not a JSON array
    ("[]", "format"),                # no values
    ('["0.1",0.2,0.3]', "format"),   # not numbers
    ("[NaN,0.2,0.3]", "format"),     # not JSON
])
def test_mean_metadata_checked(tmp_path, built_colour, mean, field):
    """The schema metadata's mean: a JSON array text for 3 channels, equal to
    the manifest's values; anything else is a ShardError naming the field."""
    import shutil
    v = tmp_path / "v"
    shutil.copytree(os.path.realpath(built_colour["rgb"]), v)
    name = next(p for p in sorted(os.listdir(v)) if p.startswith("test-"))
    t = pa.ipc.open_file(str(v / name)).read_all()
    md = dict(t.schema.metadata)
    if mean is not None:
        md[b"mean"] = mean.encode()
    _rewrite(v, name, t.replace_schema_metadata(md))
    ds = shardsmith.open(v)
    if field is None:
        assert ds["test"][0]["image"].shape == (6, 6, 3)
        return
    with pytest.raises(ShardError) as e:
        ds["test"][0]
    assert e.value.field == field and name in str(e.value)
