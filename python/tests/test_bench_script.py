"""bench/loader.py runs (on the small test version, the loaders the test
requirements install) and reports every row of the split for each."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "loader.py"


def test_loader_benchmark_runs(version_dir, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("datasets")
    env = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, str(BENCH), "--shards", str(version_dir), "--loaders", "shardsmith,shardsmith-first,hf",
                          "--workers", "0,1", "--rounds", "2"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    rows = [line.split("|")[1:-1] for line in run.stdout.splitlines() if line.startswith("| ") and "loader" not in line]
    assert [(r[0].strip(), r[1].strip(), r[2].strip()) for r in rows] == [
        ("shardsmith", "0", "480"), ("shardsmith", "1", "480"), ("shardsmith-first", "0", "480"),
        ("shardsmith-first", "1", "480"), ("hf", "0", "480"), ("hf", "1", "480")]
    assert run.stderr.count("round 2 ") == 6
