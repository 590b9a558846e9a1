"""Reading a version imports neither pandas nor anything else heavy that
pyarrow pulls in on demand: pyarrow's copying to_numpy path imports pandas
on first use, most of a second before the first batch of an epoch."""

import subprocess
import sys

import pytest

CODE = """
import sys
import shardsmith
for variant in sys.argv[1:]:
    ds = shardsmith.open(variant)
    for s in ds.splits:
        ds[s].batch_rows()
        ds[s].take([0, len(ds[s]) - 1])
heavy = sorted(m for m in ("pandas", "polars", "datasets") if m in sys.modules)
print(",".join(heavy))
"""


def test_reading_does_not_import_pandas(built):
    pytest.importorskip("pandas")  # installed (a dependency of datasets): the check means something
    out = subprocess.run([sys.executable, "-c", CODE] + [str(built[v]) for v in ("ipc", "u8", "parquet", "plain")],
                         check=True, capture_output=True, text=True).stdout.strip()
    assert out == ""
