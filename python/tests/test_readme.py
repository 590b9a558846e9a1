"""Every ```python block of README.md runs, against versions built here
(out/mnist and out/mnist-parquet stand in for a real MNIST build, runs/cnn
for a trained checkpoint)."""

import os
import re

import pytest

from conftest import REPO

BLOCKS = re.findall(r"^```python\n(.*?)^```$", (REPO / "README.md").read_text(), flags=re.S | re.M)


def test_readme_has_python_snippets():
    assert len(BLOCKS) >= 4


@pytest.fixture
def workdir(tmp_path, built, checkpoint_run, monkeypatch):
    (tmp_path / "out").mkdir()
    (tmp_path / "runs").mkdir()
    os.symlink(built["ipc"] / "tiny", tmp_path / "out" / "mnist")
    os.symlink(built["parquet"] / "tiny", tmp_path / "out" / "mnist-parquet")
    os.symlink(checkpoint_run, tmp_path / "runs" / "cnn")
    monkeypatch.chdir(tmp_path)
    for k, v in {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}.items():
        monkeypatch.setenv(k, v)
    return tmp_path


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_readme_snippet_runs(workdir, i):
    code = BLOCKS[i]
    if "torch" in code:
        pytest.importorskip("torch")
    exec(compile(code, f"README.md python block {i + 1}", "exec"), {"__name__": "readme"})
