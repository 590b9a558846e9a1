"""Property-based fuzzing of shardsmith.parse_manifest (Hypothesis), with
the Go reader as the oracle.

Two properties, over arbitrary bytes, byte-level damage of a valid
manifest and structural mutations of its JSON (dropped, duplicated,
retyped and re-cased fields, NaN/Infinity, huge and negative numbers, bad
hex, shard paths with separators or "..", unicode, normalize values as a
number or an array of any length; a colour manifest with per-channel arrays,
image tree sources with files, content_sha256 and skipped files as a base):

- parse_manifest raises nothing but ManifestError;
- it accepts exactly what the Go reader accepts: every input is also given
  to tests/manifestcheck (formats/manifest.Parse plus the mode/dtype check
  of formats/dataset.Load), built once per session and kept running, one
  length-prefixed manifest after another on its stdin.

Each property runs 200 examples by default (a few seconds);
HYPOTHESIS_PROFILE=long runs 20000 (see conftest.py), e.g.

    HYPOTHESIS_PROFILE=long python -m pytest -q tests/test_fuzz_manifest.py

A failing example Hypothesis finds is kept as an @example once fixed.

One difference is by design: JSON nested deeper than Python's recursion
limit allows (about 900 levels) is refused with a ManifestError, where Go
reads up to 10000 levels; the generators stay shallower.
"""

import json
import math
import struct
import subprocess

import pytest
from hypothesis import example, given, strategies as st

import shardsmith
from shardsmith import ManifestError

H = "0123456789abcdef" * 4


def _valid():
    """A small valid manifest, as a JSON-ready dict."""
    shard = lambda p, rows: {"path": p, "rows": rows, "bytes": 100, "sha256": H, "data_sha256": H[::-1]}  # noqa: E731
    return {
        "dataset": "tiny", "version": H, "tool": "shardsmith 0.1.0", "created": "2026-11-29T03:11:22Z",
        "config": {"dataset": "tiny", "split": {"seed": 1, "val_fraction": 0.25}},
        "hash_input": {"schema": "shardsmith-dataset-version/1"},
        "sources": [{"name": "train_images", "file": "train.gz", "sha256": H, "bytes": 9}],
        "image": {"height": 2, "width": 3, "channels": 1, "dtype": "float32"},
        "normalize": {"mode": "compute", "mean": 0.5, "std": 0.25},
        "classes": ["a", "b"],
        "splits": [{"name": "train", "rows": 5, "labels": [2, 3],
                    "shards": [shard("train-0000.arrow", 3), shard("train-0001.arrow", 2)]},
                   {"name": "val", "rows": 1, "labels": [1, 0], "shards": [shard("val-0000.parquet", 1)]}],
    }


def _valid_rgb():
    """A valid manifest of the newer shapes: 3 channels with arrays for
    mean/std, image tree sources (files, an empty-looking IDX field set),
    an IDX source pinned by content_sha256, and files skipped with skip_bad."""
    m = _valid()
    m["image"]["channels"] = 3
    m["normalize"] = {"mode": "compute", "mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}
    m["sources"] = [{"name": "train_images", "file": "data/train", "sha256": H, "bytes": 0, "files": 5},
                    {"name": "test_labels", "file": "t10k.idx", "sha256": H, "bytes": 9, "content_sha256": H[::-1]}]
    m["skipped"] = [{"split": "train", "path": "cat/bad.png", "reason": "png: invalid format"}]
    return m


VALID = json.dumps(_valid()).encode()
VALID_RGB = json.dumps(_valid_rgb()).encode()


# A document is built from dicts (or Obj, whose pairs may repeat a key),
# lists, str, bool, None, int, float and Raw (number text written as is:
# NaN, 1e400, 1.0, a 5000-digit integer), then written by dump.

class Raw(str):
    pass


class Obj(list):
    """A JSON object as (key, value) pairs, so that a key may repeat."""


def dump(v) -> str:
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, dict):
        v = Obj(v.items())
    if isinstance(v, Obj):
        return "{" + ",".join(json.dumps(k) + ":" + dump(x) for k, x in v) + "}"
    if isinstance(v, list):
        return "[" + ",".join(dump(x) for x in v) + "]"
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return json.dumps(v)


def paths(v, at=()):
    """Every path (tuple of keys and indices) into v, v's own included."""
    yield at
    if isinstance(v, dict):
        for k, x in v.items():
            yield from paths(x, at + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from paths(x, at + (i,))


def get(v, path):
    for p in path:
        v = v[p]
    return v


NUMBERS = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "1.0", "1e2", "1E+2", "-0",
                           "-1", "0.5", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
                           "18446744073709551616", "4294967296", "16777216", "16777217", "1" + "0" * 400,
                           "1" * 5000, "1." + "0" * 5000, "5e-324", "1.7976931348623157e308", "1.8e308"]).map(Raw)
HEXES = st.sampled_from([H, H.upper(), H[:63], H + "0", H[:63] + "g", " " + H[1:], H[:63] + "\n", "", "\u0660" * 64])
PATHS = st.sampled_from(["a.arrow", "a.parquet", "../a.arrow", "a/b.arrow", "a\\b.arrow", "a..b.arrow", ".a.arrow",
                         "-a.arrow", "a.arrow\n", "a.arrow/", "A_b-9.Parquet", "a.parquet.arrow", "/a.arrow", "a.ARROW",
                         "\u00e9.arrow", "a\x00.arrow", "a.arrows", "C:a.arrow", "a.arrow\u2028"])
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12), NUMBERS, HEXES, PATHS)
VALUE = st.one_of(st.floats(), st.integers(-3, 3), NUMBERS, st.none(), st.just(0.5))
VALUES = st.one_of(VALUE, st.lists(VALUE, max_size=4), st.lists(st.just(0.25), min_size=1, max_size=4))
JSON = st.recursive(LEAVES, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                   st.dictionaries(st.text(max_size=8), kids, max_size=3)),
                    max_leaves=8)


@st.composite
def mutated(draw, base=None):
    """The text of a valid manifest after a few structural mutations."""
    doc = json.loads(json.dumps(base if base is not None else _valid()))
    for _ in range(draw(st.integers(1, 4))):
        all_paths = list(paths(doc))
        path = draw(st.sampled_from(all_paths))
        if not path:
            continue
        parent, key = get(doc, path[:-1]), path[-1]
        op = draw(st.sampled_from(["drop", "retype", "number", "hex", "path", "unicode", "null", "dup", "case",
                                   "unknown", "negate", "grow", "values"]))
        if op == "drop":
            del parent[key]
        elif op == "retype":
            parent[key] = draw(JSON)
        elif op == "number":
            parent[key] = draw(NUMBERS)
        elif op == "values":  # a mean/std-like value: a number or an array of them, of any length
            parent[key] = draw(VALUES)
        elif op == "hex":
            parent[key] = draw(HEXES)
        elif op == "path":
            parent[key] = draw(PATHS)
        elif op == "unicode":
            parent[key] = draw(st.text(min_size=1, max_size=6))
        elif op == "null":
            parent[key] = None
        elif op == "negate" and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
            parent[key] = -parent[key] - draw(st.integers(0, 1))
        elif op == "grow" and isinstance(parent[key], list):
            parent[key] = parent[key] + parent[key][:1]
        elif op in ("dup", "case", "unknown") and isinstance(parent, dict):
            # rewrite the parent as pairs: a repeated key, a re-cased key or an unknown one
            pairs = Obj(parent.items())
            i = list(parent).index(key)
            if op == "dup":
                pairs.insert(draw(st.integers(0, len(pairs))), (key, draw(st.one_of(JSON, st.just(parent[key])))))
            elif op == "case":
                pairs[i] = (draw(st.sampled_from([key.upper(), key.title(), key.replace("s", "\u017f"),
                                                  key.replace("k", "\u212a"), key + " "])), parent[key])
            else:
                pairs.append((draw(st.text(max_size=8)), draw(JSON)))
            # an Obj cannot be mutated further by key: freeze it in text
            grand = get(doc, path[:-2]) if len(path) > 1 else None
            text = Raw(dump(pairs))
            if grand is None:
                return text.encode()
            grand[path[-2]] = text
    return dump(doc).encode()


@st.composite
def damaged(draw, base=VALID):
    """A valid manifest's bytes with flipped, inserted, deleted bytes or truncated."""
    b = bytearray(base)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        i = draw(st.integers(0, max(0, len(b) - 1)))
        if op == "flip" and b:
            b[i] ^= draw(st.integers(1, 255))
        elif op == "insert":
            b[i:i] = draw(st.binary(min_size=1, max_size=4) | st.sampled_from([b"\xef\xbb\xbf", b"\xc3", b"\xed\xa0\x80",
                                                                              b"\\u0000", b"\\ud800", b"\x00", b"\x0c"]))
        elif op == "delete":
            del b[i:i + draw(st.integers(1, 8))]
        elif op == "truncate":
            del b[i:]
    return bytes(b)


@pytest.fixture(scope="session")
def gocheck(tmp_path_factory):
    """A function telling whether the Go reader accepts a manifest: (ok, error)."""
    from conftest import REPO, _go
    exe = tmp_path_factory.mktemp("manifestcheck") / "manifestcheck"
    subprocess.run([_go(), "build", "-o", str(exe), "./python/tests/manifestcheck"], cwd=REPO, check=True)
    proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def check(data: bytes):
        proc.stdin.write(struct.pack(">I", len(data)) + data)
        proc.stdin.flush()
        line = proc.stdout.readline().decode()
        assert line, f"manifestcheck exited with {proc.wait()}"
        return line == "ok\n", line[4:].rstrip("\n")

    yield check
    proc.stdin.close()
    proc.stdout.close()
    assert proc.wait(timeout=10) == 0


def python_verdict(data: bytes):
    """(accepted, error) of parse_manifest; any exception but ManifestError fails the test."""
    try:
        shardsmith.parse_manifest(data)
    except ManifestError as e:
        return False, str(e)
    return True, ""


def agree(gocheck, data: bytes):
    py_ok, py_err = python_verdict(data)
    go_ok, go_err = gocheck(data)
    assert py_ok == go_ok, f"Python {'accepts' if py_ok else 'refuses: ' + py_err}, Go {'accepts' if go_ok else 'refuses: ' + go_err}"


def test_bases_are_valid(gocheck, version_dir):
    """The generators start from manifests both readers accept."""
    for data in (VALID, VALID_RGB, (version_dir / "manifest.json").read_bytes()):
        assert python_verdict(data) == (True, "") and gocheck(data) == (True, "")


@given(st.binary(max_size=200) | st.binary(max_size=20).map(lambda b: b'{"dataset":' + b))
def test_arbitrary_bytes(gocheck, data):
    agree(gocheck, data)


@given(damaged())
def test_damaged_bytes(gocheck, data):
    agree(gocheck, data)


@given(JSON.map(lambda v: dump(v).encode()))
def test_arbitrary_json(gocheck, data):
    agree(gocheck, data)


def _edit(old: bytes, new: bytes) -> bytes:
    assert old in VALID
    return VALID.replace(old, new, 1)


# Inputs on which the two readers once disagreed, or Python raised another error:
@given(mutated())
@example(_edit(b'"shardsmith', b'"\xf3hardsmith'))  # invalid UTF-8 in a string: Go reads U+FFFD
@example(b"1" * 5000)  # past CPython's 4300-digit int conversion limit: ValueError
@example(_edit(b'"seed": 1', b'"seed": ' + b"1" * 5000))  # ... which Go keeps in config
@example(_edit(b'"seed": 1', b'"seed": 1e400'))  # out of float64's range, in config: Go keeps it
@example(_edit(b'"mean": 0.5', b'"mean": 1' + b"0" * 400))  # an integer past float64 in a float field: OverflowError
@example(_edit(b'"dataset"', b'"DATASET"'))  # Go matches keys case-insensitively
@example(_edit(b'"classes"', b'"cla\\u017f\\u017fes"'))  # ... by bytes.EqualFold: U+017F folds to s
@example(_edit(b'"dataset"', b'"\xc4\xb0dataset"'))  # ... but U+0130 folds to no ASCII letter
@example(_edit(b'"dataset"', b'"dataset": [], "dataset"'))  # a repeated key is decoded each time: a type error
@example(_edit(b'"dataset"', b'"dataset": "tiny", "dataset": null, "dataset"'))  # null leaves a string as it is
@example(_edit(b'"image": {', b'"image": {"dtype": "float32"}, "image": {"dtype": null, '))  # objects merge
@example(_edit(b'"labels": [1, 0]', b'"labels": [1, 7], "labels": [], "labels": [1, null]'))  # [] resets a slice
@example(_edit(b'"labels": [1, 0]', b'"labels": [1, 0], "labels": [1], "labels": [1, null]'))  # stale capacity
@example(_edit(b'"classes": ["a", "b"]', b'"classes": ["a", "b"], "classes": {}'))  # an object is no array
@example(_edit(b'"height": 2, "width": 3', b'"height": 4294967296, "width": 4294967296'))  # Go's product wrapped to 0
@example(_edit(b'"width": 3', b'"width": 9223372036854775807'))  # ... to -2 (found by the long profile)
@example(_edit(b'"labels": [2, 3]', b'"labels": [9223372036854775807, 9223372036854775807, 7]').replace(
    b'"classes": ["a", "b"]', b'"classes": ["a", "b", "c"]').replace(b'"labels": [1, 0]', b'"labels": [1, 0, 0]'))  # Go's sum wrapped to 5
@example(b"[" * 5000 + b"]" * 5000)  # nested too deep for Python's parser: refused by both
def test_mutated_manifest(gocheck, data):
    agree(gocheck, data)


@given(mutated(_valid_rgb()))
@example(VALID_RGB.replace(b'"mean": [0.49, 0.48, 0.45]', b'"mean": [0.49, 0.48]'))  # a count other than channels
@example(VALID_RGB.replace(b'"mean": [0.49, 0.48, 0.45]', b'"mean": [0.49, null, 0.45]'))  # null in an array: 0
@example(VALID_RGB.replace(b'"std": [0.25, 0.24, 0.26]', b'"std": [0.25, null, 0.26]'))  # ... a std of 0
@example(VALID.replace(b'"mean": 0.5', b'"mean": null'))  # null into Values: one 0
@example(VALID.replace(b'"mean": 0.5', b'"mean": [0.5]'))  # one channel as an array
@example(VALID.replace(b'"mean": 0.5', b'"mean": []'))  # no value
@example(VALID.replace(b'"mean": 0.5', b'"mean": [0.1], "mean": 0.5'))  # a repeated key replaces Values whole
@example(VALID_RGB.replace(b'"mean": [0.49, 0.48, 0.45]', b'"mean": [0.49, 0.48, 0.45], "mean": [0.1]'))
@example(VALID_RGB.replace(b'"sha256": "' + H.encode() + b'", "bytes": 9', b'"sha256": "", "bytes": 9'))  # empty sha256
@example(VALID_RGB.replace(b'"files": 5', b'"files": 5.0'))  # files is an int
@example(VALID_RGB.replace(b'"reason"', b'"why"'))  # skipped entries are strict too
def test_mutated_rgb_manifest(gocheck, data):
    agree(gocheck, data)


@given(st.data())
def test_mutated_built_manifest(gocheck, version_dir, data):
    """Mutations of a manifest prep wrote (real config and hash_input)."""
    base = json.loads((version_dir / "manifest.json").read_bytes())
    agree(gocheck, data.draw(mutated(base)))


def test_strings_read_as_go_reads_them():
    """What the differential test cannot see: the values. Each invalid UTF-8
    byte and each lone surrogate escape is a U+FFFD, as in Go."""
    m = shardsmith.parse_manifest(_edit(b'"tiny"', b'"t\xe2\x82\xffy\\ud800\\ud83d\\ude00"'))
    assert m.dataset == "t\ufffd\ufffd\ufffdy\ufffd\U0001f600"
    m = shardsmith.parse_manifest(_edit(b'"classes"', b'"CLA\\u017fSes"').replace(b'["a", "b"]', b'["a", "\\udfff"]'))
    assert m.classes == ["a", "\ufffd"]
