"""Test data for the package's tests, made by the project's own Go tools:
a synthetic IDX set (tests/tinyset) built into dataset versions by
`prep run`, and a checkpoint trained on one by `trainer`."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

try:  # the property-based tests (test_fuzz_*.py): a short run by default, HYPOTHESIS_PROFILE=long for longer
    from hypothesis import settings

    settings.register_profile("default", max_examples=200, deadline=None)
    settings.register_profile("long", max_examples=20000, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
except ImportError:  # hypothesis is pinned in requirements-test.txt; without it those tests fail to import
    pass

REPO = Path(__file__).resolve().parents[2]
TESTDATA = REPO / "trainer" / "data" / "testdata"

# Train 600 images → 480 train rows in 4 shards of up to 128 rows, each in
# record batches of up to 50 rows: orders that cross batches and shards.
BASE = "split: {seed: 1, val_fraction: 0.2}\n"
SHARDS = "shards: {rows: 128, batch_rows: 50%s}\n"
VARIANTS = {
    "ipc": BASE + SHARDS % "",
    "u8": BASE + SHARDS % "" + "normalize: {mode: none}\n",
    "parquet": BASE + SHARDS % ", format: parquet",
    "plain": BASE + SHARDS % ", compression: none",
}


@pytest.fixture(autouse=True)
def own_shard_cache(tmp_path_factory, monkeypatch):
    """Each test gets a shard cache of its own where it names none, so that
    no decoded copy another test left (they are keyed by the shard's SHA-256,
    shared by every copy of a version) stands in for a shard a test damages."""
    import shardsmith.dataset

    d = tmp_path_factory.mktemp("shard-cache")
    monkeypatch.setattr(shardsmith.dataset, "default_cache_dir", lambda: str(d))
    # and for the Python processes tests start (the user cache directory moves: Go's build cache stays)
    monkeypatch.setenv("XDG_CACHE_HOME", str(d))
    monkeypatch.setenv("GOCACHE", _gocache())
    return d


_GOCACHE = []


def _gocache():
    if not _GOCACHE:
        go = shutil.which("go")
        got = os.environ.get("GOCACHE") or (subprocess.run([go, "env", "GOCACHE"], capture_output=True, text=True)
                                            .stdout.strip() if go else "")
        _GOCACHE.append(got or "off")
    return _GOCACHE[0]


def _go():
    go = shutil.which("go")
    if go is None:
        if os.environ.get("CI"):
            pytest.fail("go is not on PATH: the tests build their data with the Go tools")
        pytest.skip("go is not on PATH: no test data")
    return go


@pytest.fixture(scope="session")
def gobin(tmp_path_factory):
    """prep, trainer and tinyset, built once for the session."""
    go = _go()
    bin_dir = tmp_path_factory.mktemp("bin")
    subprocess.run([go, "build", "-o", str(bin_dir) + os.sep, "./cmd/prep", "./cmd/trainer", "./python/tests/tinyset"],
                   cwd=REPO, check=True)
    return bin_dir


@pytest.fixture(scope="session")
def built(gobin, tmp_path_factory):
    """name → output root of a built version, for each of VARIANTS."""
    root = tmp_path_factory.mktemp("data")
    out = {}
    for name, extra in VARIANTS.items():
        src = root / ("src-" + name)
        src.mkdir()
        cfg = subprocess.run([str(gobin / "tinyset"), "-dir", str(src), "-name", "tiny", "-extra", extra],
                             check=True, capture_output=True, text=True).stdout.strip()
        dest = root / name
        subprocess.run([str(gobin / "prep"), "run", cfg, "--out", str(dest), "--cache", str(root / "cache"), "--quiet"],
                       check=True, capture_output=True)
        out[name] = dest
    return out


@pytest.fixture(scope="session")
def version_dir(built):
    """The float32 Arrow IPC version directory."""
    return built["ipc"] / "tiny" / "latest"


@pytest.fixture(scope="session")
def checkpoint_run(gobin, built, tmp_path_factory):
    """A run directory with the CNN (PyTorch examples' Net) trained 3 epochs on the ipc version."""
    run = tmp_path_factory.mktemp("run") / "cnn"
    subprocess.run([str(gobin / "trainer"), "--shards", str(built["ipc"]), "--model", "cnn",
                    "--epochs", "3", "--batch-size", "32", "--lr", "3e-3", "--out", str(run), "--quiet"], check=True, capture_output=True)
    return run


@pytest.fixture
def copy_version(tmp_path, version_dir):
    """A private copy of the ipc version directory, to damage."""
    def make(src=None):
        dst = tmp_path / "v"
        shutil.copytree(os.path.realpath(src or version_dir), dst)
        return dst
    return make


# Colour and image-tree versions: a 3-channel IDX set (float32 and uint8
# shards) and a tree of PNG files in class folders (image/png), with a file
# that does not decode skipped (skip_bad), float32 Arrow and uint8 Parquet.
COLOUR = {
    "rgb": (["-channels", "3", "-train", "60", "-test", "20", "-classes", "3", "-seed", "4"],
            BASE + "shards: {rows: 16, batch_rows: 8}\n"),
    "rgb-u8": (["-channels", "3", "-train", "60", "-test", "20", "-classes", "3", "-seed", "4"],
               BASE + "shards: {rows: 16, batch_rows: 8}\nnormalize: {mode: none}\n"),
    "tree": (["-tree", "-channels", "3", "-skip-bad"], "shards: {rows: 4, batch_rows: 3}\n"),
    "tree-u8": (["-tree", "-channels", "3"], "shards: {rows: 4, format: parquet}\nnormalize: {mode: none}\n"),
    "tree-gray": (["-tree", "-channels", "1"], ""),
}


@pytest.fixture(scope="session")
def built_colour(gobin, tmp_path_factory):
    """name → the latest version directory of each of COLOUR."""
    root = tmp_path_factory.mktemp("colour")
    out = {}
    for name, (args, extra) in COLOUR.items():
        src = root / ("src-" + name)
        src.mkdir()
        cfg = subprocess.run([str(gobin / "tinyset"), "-dir", str(src), "-name", "set", "-extra", extra, *args],
                             check=True, capture_output=True, text=True).stdout.strip()
        dest = root / name
        subprocess.run([str(gobin / "prep"), "run", cfg, "--out", str(dest), "--cache", str(root / "cache"), "--quiet"],
                       check=True, capture_output=True)
        out[name] = dest / "set" / "latest"
    return out


@pytest.fixture(scope="session")
def go_rows(gobin):
    """(version directory, split) → what the Go reader reads (tinyset -dump)."""
    import json
    cache = {}

    def read(version, split):
        key = (str(version), split)
        if key not in cache:
            out = subprocess.run([str(gobin / "tinyset"), "-dump", str(version), "-split", split],
                                 check=True, capture_output=True, text=True).stdout
            cache[key] = json.loads(out)
        return cache[key]
    return read
