"""Shards on an S3 store (versitygw on loopback, started here) read by
pyarrow and polars: the bytes prep uploaded are the manifest's, and the rows
are those of the same version on local disk."""

import hashlib
import json
import os
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


def test_open_refuses_urls():
    with pytest.raises(ValueError, match="local versions only"):
        shardsmith.open("s3://bucket/datasets/tiny")
    with pytest.raises(ValueError, match="gs://"):
        shardsmith.open("gs://bucket/x")
