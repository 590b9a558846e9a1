"""Other tools read what prep writes, and agree with shardsmith: pyarrow,
polars, DuckDB, Hugging Face datasets, and safetensors + PyTorch for a
checkpoint."""

import glob
import json
import os
import subprocess

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import shardsmith


def test_pyarrow_reads_both_formats(built):
    for variant, read in (("ipc", lambda p: pa.ipc.open_file(pa.memory_map(p)).read_all()), ("parquet", pq.read_table)):
        ds = shardsmith.open(built[variant])
        sp = ds["train"]
        t = pa.concat_tables([read(p) for p in sp.shards])
        assert t.num_rows == len(sp)
        meta = {k.decode(): v.decode() for k, v in t.schema.metadata.items()}
        assert meta["version"] == ds.version and json.loads(meta["classes"]) == ds.classes
        img = np.asarray(t.column("image").combine_chunks().flatten()).reshape(-1, *ds.shape)
        rows = sp.take(np.arange(len(sp)))
        assert np.array_equal(img, rows["image"]) and np.array_equal(t.column("label").to_numpy(), rows["label"])


def test_polars_reads_both_formats(built):
    pl = pytest.importorskip("polars")
    for variant, read in (("ipc", pl.read_ipc), ("parquet", pl.read_parquet)):
        sp = shardsmith.open(built[variant])["test"]
        df = pl.concat([read(p) for p in sp.shards])
        assert df.columns == ["source_index", "label", "copy", "image"] and df.height == len(sp)
        rows = sp.take(np.arange(len(sp)))
        assert df["label"].to_list() == rows["label"].tolist()
        assert df["source_index"].to_list() == rows["source_index"].tolist()
        px = np.array(df["image"].to_list(), dtype=np.float32).reshape(-1, 6, 6, 1)
        assert np.array_equal(px, rows["image"])


def test_duckdb_queries_parquet_shards(built):
    duckdb = pytest.importorskip("duckdb")
    ds = shardsmith.open(built["parquet"])
    d = ds.dir
    counts = duckdb.sql(f"SELECT label, count(*) FROM read_parquet('{d}/train-*.parquet') GROUP BY label ORDER BY label").fetchall()
    hist = ds.manifest.split("train").labels
    assert counts == [(i, c) for i, c in enumerate(hist) if c]
    kv = dict(duckdb.sql(f"SELECT decode(key), decode(value) FROM parquet_kv_metadata('{d}/test-00000-of-00001.parquet')").fetchall())
    assert kv["version"] == ds.version and kv["split"] == "test"
    first = duckdb.sql(f"SELECT source_index, image FROM read_parquet('{d}/test-*.parquet') ORDER BY source_index LIMIT 1").fetchone()
    row = ds["test"].take(np.arange(len(ds["test"])))
    k = int(np.argmin(row["source_index"]))
    assert first[0] == row["source_index"][k] and np.array_equal(np.float32(first[1]), row["image"][k].reshape(-1))


def test_hugging_face_datasets_loads_a_version(version_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    ds = shardsmith.open(version_dir)
    hf = datasets.load_dataset("arrow", data_files={s: ds[s].shards for s in ds.splits}, cache_dir=str(tmp_path))
    assert sorted(hf.keys()) == sorted(ds.splits)
    for s in ds.splits:
        rows = ds[s].take(np.arange(len(ds[s])))
        h = hf[s].with_format("numpy")
        assert len(h) == len(ds[s])
        assert np.array_equal(h["label"], rows["label"]) and np.array_equal(h["source_index"], rows["source_index"])
        assert np.array_equal(np.stack(h["image"]).reshape(-1, *ds.shape), rows["image"])


def test_safetensors_checkpoint_gives_trainer_eval_accuracy(gobin, built, checkpoint_run):
    """PyTorch's examples/mnist Net, loaded from the trainer's checkpoint
    with safetensors, scores the trainer's own eval accuracy on test."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file
    import torch.nn as nn
    import torch.nn.functional as F

    ck = json.loads((checkpoint_run / "checkpoint.json").read_text())
    assert ck["arch"]["name"] == "cnn"
    state = load_file(str(checkpoint_run / ck["weights"]["name"]))

    class Net(nn.Module):  # pytorch/examples mnist/main.py, fc1 sized for 6x6 inputs
        def __init__(self, flat):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(flat, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = self.dropout2(x)
            return F.log_softmax(self.fc2(x), dim=1)

    net = Net(state["fc1.weight"].shape[1])
    net.load_state_dict(state)  # strict: every name and shape matches
    net.eval()
    test = shardsmith.open(built["ipc"])["test"]
    rows = test.take(np.arange(len(test)))
    with torch.no_grad():
        x = torch.from_numpy(rows["image"]).permute(0, 3, 1, 2)  # (N, H, W, C) → (N, C, H, W)
        pred = net(x).argmax(1).numpy()
    acc = float((pred == rows["label"]).mean())
    out = subprocess.run([str(gobin / "trainer"), "eval", "--checkpoint", str(checkpoint_run), "--shards", str(built["ipc"]),
                          "--json"], check=True, capture_output=True, text=True).stdout
    rep = json.loads(out)
    assert rep["examples"] == len(test)
    assert acc == rep["accuracy"] and acc > 0.5
