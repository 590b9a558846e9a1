"""Shards on an S3 store (versitygw on loopback, started here) read by
pyarrow and polars, and versions read by shardsmith.open through the shard
cache: the bytes prep uploaded are the manifest's, and the rows are those of
the same version on local disk."""

import dataclasses
import hashlib
import json
import os
import pickle
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

import shardsmith
from shardsmith import manifest as mf

from conftest import BASE, REPO

ACCESS, SECRET, BUCKET = "shardsmith-test", "shardsmith-test-secret", "data"


def _versitygw():
    found = shutil.which("versitygw")
    if found:
        return found
    for d in [os.environ.get("GOBIN", "")] + [os.path.join(p, "bin") for p in
                                               subprocess.run(["go", "env", "GOPATH"], capture_output=True, text=True).stdout.strip().split(os.pathsep) if p]:
        if d and os.path.isfile(os.path.join(d, "versitygw")):
            return os.path.join(d, "versitygw")
    msg = "versitygw is not installed (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0); skipping the object store test"
    if os.environ.get("CI"):
        pytest.fail(msg + " — CI must run it")
    pytest.skip(msg)


@pytest.fixture
def s3(tmp_path):
    """A running versitygw with an empty bucket: its endpoint and the AWS environment that reaches it."""
    binary = _versitygw()
    (tmp_path / "s3" / BUCKET).mkdir(parents=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--access", ACCESS, "--secret", SECRET, "--port", f"127.0.0.1:{port}", "posix",
                             str(tmp_path / "s3")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(endpoint + "/", timeout=1)
                break
            except urllib.error.HTTPError:
                break  # it answers (403 without credentials)
            except OSError:
                time.sleep(0.05)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1",
                   AWS_ENDPOINT_URL=endpoint)
        yield {"endpoint": endpoint, "port": port, "env": env}
    finally:
        proc.kill()
        proc.wait()


def _build(gobin, tmp_path, out, extra, env=None):
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    cfg = subprocess.run([str(gobin / "tinyset"), "-dir", str(src), "-name", "tiny", "-extra", extra],
                         check=True, capture_output=True, text=True).stdout.strip()
    return subprocess.run([str(gobin / "prep"), "run", cfg, "--out", out, "--cache", str(tmp_path / "cache"), "--quiet"],
                          check=True, capture_output=True, text=True, env=env).stdout.strip()


@pytest.mark.parametrize("fmt", ["arrow", "parquet"])
def test_readers_on_store(gobin, tmp_path, s3, fmt):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    from pyarrow import fs as pafs
    pl = pytest.importorskip("polars")
    extra = BASE + "shards: {rows: 128, batch_rows: 50, format: %s}\n" % fmt
    short = _build(gobin, tmp_path, f"s3://{BUCKET}/datasets", extra, env=s3["env"])
    local = _build(gobin, tmp_path, str(tmp_path / "local"), extra)
    assert short == local
    s3fs = pafs.S3FileSystem(access_key=ACCESS, secret_key=SECRET, region="us-east-1",
                             endpoint_override=s3["endpoint"], scheme="http")
    base = f"{BUCKET}/datasets/tiny"
    with s3fs.open_input_stream(f"{base}/latest") as f:
        assert f.read().decode().strip() == short
    with s3fs.open_input_stream(f"{base}/{short}/manifest.json") as f:
        m = mf.parse(f.read())
    ds = shardsmith.open(str(tmp_path / "local" / "tiny" / "latest"))
    storage = {"aws_access_key_id": ACCESS, "aws_secret_access_key": SECRET, "aws_region": "us-east-1",
               "aws_endpoint_url": s3["endpoint"], "aws_allow_http": "true"}
    for sp in m.splits:
        for sh in sp.shards:
            with s3fs.open_input_file(f"{base}/{short}/{sh.path}") as f:
                data = f.read()
            assert len(data) == sh.bytes and hashlib.sha256(data).hexdigest() == sh.sha256, sh.path
            with open(tmp_path / "local" / "tiny" / short / sh.path, "rb") as f:
                assert f.read() == data, sh.path
            url = f"s3://{base}/{short}/{sh.path}"
            if fmt == "parquet":
                table = pq.read_table(f"{base}/{short}/{sh.path}", filesystem=s3fs)
                df = pl.read_parquet(url, storage_options=storage)
            else:
                table = pa.ipc.open_file(pa.BufferReader(data)).read_all()
                df = pl.read_ipc(data)
            assert df.height == sh.rows
            want = [int(v) for v in ds[sp.name].take(range(sum(s.rows for s in sp.shards)))["label"]]
            start = sum(s.rows for s in sp.shards[:sp.shards.index(sh)])
            assert df["label"].to_list() == want[start:start + sh.rows]
            assert table.num_rows == sh.rows
            assert table.column("label").to_pylist() == want[start:start + sh.rows]


def _aws(monkeypatch, s3):
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.setenv(k, s3["env"][k])
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)


def _has_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _rows(split):
    return split.take(range(len(split)))


def _cached(cache):
    """name → inode of the files in a cache directory (temporary ones too)."""
    return {e.name: e.stat().st_ino for e in os.scandir(cache)} if os.path.isdir(cache) else {}


@pytest.mark.parametrize("fmt", ["arrow", "parquet"])
def test_open_from_store(gobin, tmp_path, s3, monkeypatch, fmt):
    """shardsmith.open of s3:// URLs: the rows of the same version on local
    disk, row for row, through the cache the Go tools use; a second open
    takes the shards from the cache alone."""
    _aws(monkeypatch, s3)
    extra = BASE + "shards: {rows: 128, batch_rows: 50, format: %s}\n" % fmt
    short = _build(gobin, tmp_path, f"s3://{BUCKET}/datasets", extra, env=s3["env"])
    assert _build(gobin, tmp_path, str(tmp_path / "local"), extra) == short
    local = shardsmith.open(str(tmp_path / "local" / "tiny" / "latest"))
    cache = tmp_path / "shard-cache"
    old = cache / ("0" * 64 + ".arrow")  # a shard of another version, read long ago
    cache.mkdir()
    old.write_bytes(b"x" * 1000)
    os.utime(old, (1, 1))
    ds = shardsmith.open(f"s3://{BUCKET}/datasets/tiny/latest", cache_dir=str(cache), cache_mb=0)
    assert ds.version == local.version and ds.dir == f"s3://{BUCKET}/datasets/tiny/{short}"
    assert ds.manifest == dataclasses.replace(local.manifest, created=ds.manifest.created)  # built a second later
    shards = {sh.sha256 + "." + fmt: sh for sp in ds.manifest.splits for sh in sp.shards}
    files = _cached(cache)
    assert set(files) == set(shards), "the version's shards, named by SHA-256; the older file evicted (cache_mb=0)"
    for name, sh in shards.items():
        with open(cache / name, "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == sh.sha256
    for sp in ds.splits:
        assert ds[sp].shards == [str(cache / (sh.sha256 + "." + fmt)) for sh in ds.manifest.split(sp).shards]
        got, want = _rows(ds[sp]), _rows(local[sp])
        assert set(got) == set(want)
        for k in want:
            assert (got[k] == want[k]).all(), (sp, k)
        assert (ds[sp].order(seed=1, epoch=0) == local[sp].order(seed=1, epoch=0)).all()

    copy = pickle.loads(pickle.dumps(ds))  # as spawned DataLoader workers get it: the cached files, already hashed
    assert copy.dir == ds.dir and copy["val"].shards == ds["val"].shards
    assert (_rows(copy["val"])["image"] == _rows(local["val"])["image"]).all()
    if fmt == "arrow" and _has_torch():
        from shardsmith.torch import Loader
        got = [b["label"].tolist() for b in Loader(ds["train"], batch_size=64, seed=1, num_workers=2)]
        want = [b["label"].tolist() for b in Loader(local["train"], batch_size=64, seed=1)]
        assert got == want and sum(map(len, got)) == len(local["train"])

    # The other spellings of the same version.
    for url in (f"s3://{BUCKET}/datasets/tiny/{short}", f"s3://{BUCKET}/datasets/tiny",
                f"s3://{BUCKET}/datasets", f"s3://{BUCKET}/datasets/tiny/{short}/manifest.json"):
        assert shardsmith.open(url, cache_dir=str(cache)).version == local.version, url
    now = _cached(cache)
    assert {n: i for n, i in now.items() if n in files} == files, "no shard downloaded again"
    assert set(now) - set(files) == {sh.sha256 + ".decoded.arrow" for sh in shards.values() if sh.rows}, \
        "beside them, the decoded copy of each shard read whole"
    files = now

    # With the shard objects gone from the store, only the manifest is read
    # from it: the shards come from the cache.
    vdir = tmp_path / "s3" / BUCKET / "datasets" / "tiny" / short
    for sp in ds.manifest.splits:
        for sh in sp.shards:
            (vdir / sh.path).unlink()
    again = shardsmith.open(f"s3://{BUCKET}/datasets/tiny", cache_dir=str(cache))
    assert (_rows(again["train"])["label"] == _rows(local["train"])["label"]).all()
    assert _cached(cache) == files

    # A cached file damaged since is hashed before use, and fetched again:
    # here it is no longer on the store, so the open fails naming its URL.
    sh = ds.manifest.splits[0].shards[0]
    name = sh.sha256 + "." + fmt
    data = bytearray((cache / name).read_bytes())
    data[len(data) // 2] ^= 1
    (cache / name).write_bytes(bytes(data))
    with pytest.raises(shardsmith.ShardError, match=f"s3://{BUCKET}/datasets/tiny/{short}/{sh.path}") as e:
        shardsmith.open(f"s3://{BUCKET}/datasets/tiny", cache_dir=str(cache))
    assert e.value.field == "file"
    assert name not in _cached(cache), "the damaged file is not kept"


def test_store_cache_shared_with_trainer(gobin, tmp_path, s3, monkeypatch):
    """The trainer's shard cache and the Python one are one: shards the
    trainer downloaded are found (hashed, not downloaded again) by
    shardsmith.open, and the other way round."""
    _aws(monkeypatch, s3)
    extra = BASE + "shards: {rows: 128, batch_rows: 50}\n"
    short = _build(gobin, tmp_path, f"s3://{BUCKET}/datasets", extra, env=s3["env"])
    url, cache = f"s3://{BUCKET}/datasets/tiny", tmp_path / "shard-cache"
    subprocess.run([str(gobin / "trainer"), "--shards", url, "--model", "mlp", "--hidden", "16", "--epochs", "1",
                    "--out", str(tmp_path / "run"), "--shard-cache", str(cache), "--quiet"],
                   check=True, capture_output=True, env=s3["env"])
    byg = _cached(cache)
    ds = shardsmith.open(url, cache_dir=str(cache))
    trained = {os.path.basename(p) for p in ds["train"].shards + ds["val"].shards}
    assert trained and trained <= set(byg), (trained, byg)
    assert {n: i for n, i in _cached(cache).items() if n in byg} == byg, "the trainer's files, not downloaded again"

    other = tmp_path / "shard-cache-2"
    ds = shardsmith.open(url, cache_dir=str(other))
    ds["train"].take(range(len(ds["train"])))  # read whole: its decoded copies join the cache
    mine = _cached(other)
    assert [n for n in mine if n.endswith(".decoded.arrow")], mine
    subprocess.run([str(gobin / "trainer"), "--shards", f"{url}/{short}", "--model", "mlp", "--hidden", "16",
                    "--epochs", "1", "--out", str(tmp_path / "run2"), "--shard-cache", str(other), "--quiet"],
                   check=True, capture_output=True, env=s3["env"])
    assert _cached(other) == mine, "the trainer used the files shardsmith.open downloaded, and left the copies"


def _put(s3, key, data):
    from pyarrow import fs as pafs
    s3fs = pafs.S3FileSystem(access_key=ACCESS, secret_key=SECRET, region="us-east-1",
                             endpoint_override=s3["endpoint"], scheme="http")
    with s3fs.open_output_stream(f"{BUCKET}/{key}") as f:
        f.write(data)


def test_open_store_refuses_replaced_shards(gobin, tmp_path, s3, monkeypatch):
    """A shard object replaced after publishing (same size, or another) is an
    error naming its URL and both hashes (or sizes); nothing enters the cache.
    A version without its manifest does not exist."""
    _aws(monkeypatch, s3)
    short = _build(gobin, tmp_path, f"s3://{BUCKET}/datasets", BASE + "shards: {rows: 128, batch_rows: 50}\n",
                   env=s3["env"])
    vdir = tmp_path / "s3" / BUCKET / "datasets" / "tiny" / short
    m = mf.load(str(vdir))
    cache = tmp_path / "shard-cache"
    sh = m.splits[0].shards[1]
    data = bytearray((vdir / sh.path).read_bytes())
    data[100] ^= 0xFF
    bad = hashlib.sha256(data).hexdigest()
    url = f"s3://{BUCKET}/datasets/tiny/{short}/{sh.path}"
    _put(s3, f"datasets/tiny/{short}/{sh.path}", bytes(data))
    with pytest.raises(shardsmith.ShardError) as e:
        shardsmith.open(f"s3://{BUCKET}/datasets/tiny", cache_dir=str(cache))
    msg = str(e.value)
    assert url in msg and bad in msg and sh.sha256 in msg, msg
    assert (e.value.field, e.value.got, e.value.want) == ("sha256", bad, sh.sha256)
    assert not any(n.startswith(sh.sha256) or n.startswith(bad) or n.startswith(".") for n in _cached(cache)), \
        _cached(cache)

    _put(s3, f"datasets/tiny/{short}/{sh.path}", bytes(data) + b"more")
    with pytest.raises(shardsmith.ShardError, match=f"{url}: {sh.bytes + 4} bytes, manifest says {sh.bytes}") as e:
        shardsmith.open(f"s3://{BUCKET}/datasets/tiny/{short}", cache_dir=str(cache))
    assert e.value.field == "bytes"
    assert not any(n.startswith(sh.sha256) or n.startswith(".") for n in _cached(cache)), _cached(cache)

    (vdir / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match=f"s3://{BUCKET}/datasets/tiny/{short}: no such version"):
        shardsmith.open(f"s3://{BUCKET}/datasets/tiny/{short}", cache_dir=str(cache))
    with pytest.raises(FileNotFoundError, match=f"names version {short}, which has no manifest: no such version"):
        shardsmith.open(f"s3://{BUCKET}/datasets/tiny/latest", cache_dir=str(cache))
    with pytest.raises(FileNotFoundError, match="no such version"):
        shardsmith.open(f"s3://{BUCKET}/datasets/tiny/{short}/manifest.json", cache_dir=str(cache))


def test_open_store_default_cache(gobin, tmp_path, s3, monkeypatch):
    """Without cache_dir, shards go where the Go tools cache them:
    $XDG_CACHE_HOME/shardsmith/shards."""
    _aws(monkeypatch, s3)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    _build(gobin, tmp_path, f"s3://{BUCKET}/datasets", BASE + "shards: {rows: 128, batch_rows: 50}\n", env=s3["env"])
    ds = shardsmith.open(f"s3://{BUCKET}/datasets/tiny")
    want = {sh.sha256 + ".arrow" for sp in ds.manifest.splits for sh in sp.shards}
    assert set(_cached(tmp_path / "xdg" / "shardsmith" / "shards")) == want
    assert len(ds["train"]) == ds.manifest.split("train").rows


def test_default_cache_dir(monkeypatch, tmp_path):
    from shardsmith import store
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert store.default_cache_dir() == os.path.join(str(tmp_path), "shardsmith", "shards")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # os.UserCacheDir refuses it: the temporary directory
    monkeypatch.setenv("TMPDIR", str(tmp_path / "t"))
    assert store.default_cache_dir() == os.path.join(str(tmp_path / "t"), "shardsmith-shards")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert store.default_cache_dir() == os.path.join(str(tmp_path / "home"), ".cache", "shardsmith", "shards")


def test_open_refuses_urls():
    for url, msg in [("gs://bucket/x", 'unsupported location scheme "gs"'),
                     ("https://example.com/x", 'unsupported location scheme "https"'),
                     ("s3:bucket/x", 'looks like a URL without "//"'),
                     ("s3:/bucket/x", 'looks like a URL without "//"'),
                     ("s3:///x", "no bucket"),
                     ("s3://bucket/a/../b", "not clean"),
                     ("s3://bucket/a//b", "not clean"),
                     ("s3://bucket/x?color=red", 'unknown option "color"'),
                     ("file://host/x", "a file URL names a local path")]:
        with pytest.raises(ValueError, match=msg) as e:
            shardsmith.open(url)
        assert "file:///PATH or s3://BUCKET/PREFIX" in str(e.value) or "unsupported" not in msg, str(e.value)
    with pytest.raises(OSError, match="^s3://data/datasets/tiny: .*manifest.json"):  # nothing listens there
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {"AWS_ACCESS_KEY_ID": ACCESS, "AWS_SECRET_ACCESS_KEY": SECRET,
               "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
        with pytest.MonkeyPatch.context() as mp:
            for k, v in env.items():
                mp.setenv(k, v)
            shardsmith.open("s3://data/datasets/tiny")
    with pytest.raises(ValueError, match="credentials do not belong in the URL") as e:
        shardsmith.open("s3://key:topsecret@bucket/datasets/tiny")
    assert "topsecret" not in str(e.value) and "key" not in str(e.value).split("URL")[0]
