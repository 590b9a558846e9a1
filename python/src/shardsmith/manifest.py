"""manifest.json: strict parsing and validation, with the rules of the Go
package formats/manifest (unknown fields, wrong types and impossible values
are errors; a missing field is its zero value, as in Go, and then fails
validation where it matters)."""

from __future__ import annotations

import decimal
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

FILE_NAME = "manifest.json"
LATEST_NAME = "latest"

_HEX64 = re.compile(r"^[0-9a-f]{64}\Z")
_SHARD_PATH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.(arrow|parquet)\Z")


class ManifestError(ValueError):
    """A manifest that cannot be read or is not valid."""


@dataclass(frozen=True)
class Source:
    name: str
    file: str
    sha256: str
    bytes: int
    # the digest of an IDX source's bytes after gzip decoding ("" if none)
    content_sha256: str = ""
    # the number of image files of an image tree or list source (0 for IDX)
    files: int = 0


@dataclass(frozen=True)
class Skipped:
    """A file of an image tree or list source left out (skip_bad), and why."""

    split: str
    path: str  # relative to the split's root, '/'-separated
    reason: str


@dataclass(frozen=True)
class Image:
    height: int
    width: int
    channels: int
    dtype: str  # "float32" or "uint8"


@dataclass(frozen=True)
class Normalize:
    """The pixel normalization of a version: mode "compute" or "fixed" (the
    shards hold float32 values), or "none" (uint8 shards; mean and std are
    what a reader should apply).

    mean and std hold one value per channel (tuples of floats). In
    manifest.json one channel's value is a JSON number and C > 1 channels'
    are an array; images are stored HWC, so pixel value i belongs to
    channel i mod C."""

    mode: str
    mean: Tuple[float, ...]
    std: Tuple[float, ...]

    def __post_init__(self):
        # one number stands for one channel, as in manifest.json
        for k in ("mean", "std"):
            v = getattr(self, k)
            object.__setattr__(self, k, (float(v),) if isinstance(v, (int, float)) else tuple(float(x) for x in v))

    @property
    def channels(self) -> int:
        return len(self.mean)

    def table(self) -> np.ndarray:
        """The (C, 256) float32 values of (x/255 - mean[c])/std[c], computed
        in float64 and rounded once: bitwise the table of the Go trainer and
        of prep's normalize stage (formats/manifest/normalize.go)."""
        x = np.arange(256, dtype=np.float64)
        mean = np.asarray(self.mean, dtype=np.float64)[:, None]
        std = np.asarray(self.std, dtype=np.float64)[:, None]
        return ((x[None, :] / 255 - mean) / std).astype(np.float32)

    def apply(self, v: np.ndarray) -> np.ndarray:
        """The normalized float32 values of pixel bytes v whose last axis is
        HWC-interleaved (value i of channel i mod C), as Table.Apply maps them."""
        v = np.asarray(v)
        t = self.table()
        if t.shape[0] == 1:
            return t[0][v]
        return t[np.arange(v.shape[-1]) % t.shape[0], v]

    def denormalize(self, v: np.ndarray) -> np.ndarray:
        """The nearest pixel bytes of normalized values (last axis HWC, value
        i of channel i mod C), clamped to [0, 255] (the inverse of table for
        the values it holds)."""
        v = np.asarray(v, dtype=np.float64)
        c = np.arange(v.shape[-1]) % len(self.mean) if v.ndim else 0
        std = np.asarray(self.std, dtype=np.float64)[c]
        mean = np.asarray(self.mean, dtype=np.float64)[c]
        x = (v * std + mean) * 255
        # Go's math.Round rounds halves away from zero; np.round to even.
        x = np.clip(x, 0, 255)
        return np.floor(x + 0.5).astype(np.uint8)


@dataclass(frozen=True)
class Shard:
    path: str
    rows: int
    bytes: int
    sha256: str
    data_sha256: str


@dataclass(frozen=True)
class Split:
    name: str
    rows: int
    labels: List[int]
    shards: List[Shard]


@dataclass(frozen=True)
class Manifest:
    dataset: str
    version: str
    tool: str
    created: str
    config: Any
    hash_input: Any
    sources: List[Source]
    image: Image
    normalize: Normalize
    classes: List[str]
    splits: List[Split]
    skipped: List[Skipped] = field(default_factory=list)
    raw: Dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def source_paths(self) -> bool:
        """Whether the shards carry the source_path column: the version was
        built from image tree or list sources (which record their file count)."""
        return any(s.files > 0 for s in self.sources)

    @property
    def short_version(self) -> str:
        return self.version[:12]

    def split(self, name: str) -> Optional[Split]:
        for s in self.splits:
            if s.name == name:
                return s
        return None


# Decoding, as Go's encoding/json decodes into the Manifest struct (with
# DisallowUnknownFields): each field's type as Go declares it; a number with
# a fraction or exponent is no int; a key matches a field exactly or else
# case-insensitively (bytes.EqualFold); a repeated key is decoded again into
# the same field (objects merge, arrays decode into the elements already
# there, even past their length within capacity); null leaves a value as it
# is, or sets an array to nil.

class _Pairs(list):
    """A JSON object as its (key, value) pairs, in order, repeats kept."""


class _Slice:
    """A Go slice being decoded: its elements and the stale ones past its
    length within its capacity, which a later array decodes into."""

    def __init__(self, items=(), stale=()):
        self.items, self.stale = list(items), list(stale)


_STRUCTS = {
    "manifest": {"dataset": "str", "version": "str", "tool": "str", "created": "str", "config": "raw",
                 "hash_input": "raw", "sources": ("list", "source"), "image": "image", "normalize": "normalize",
                 "classes": ("list", "str"), "splits": ("list", "split"), "skipped": ("list", "skipped")},
    "source": {"name": "str", "file": "str", "sha256": "str", "bytes": "int", "content_sha256": "str", "files": "int"},
    "skipped": {"split": "str", "path": "str", "reason": "str"},
    "image": {"height": "int", "width": "int", "channels": "int", "dtype": "str"},
    "normalize": {"mode": "str", "mean": "values", "std": "values"},
    "split": {"name": "str", "rows": "int", "labels": ("list", "int"), "shards": ("list", "shard")},
    "shard": {"path": "str", "rows": "int", "bytes": "int", "sha256": "str", "data_sha256": "str"},
}


def _fold(key: str) -> str:
    # bytes.EqualFold of a key and an ASCII field name: ASCII letters in either
    # case, and the two non-ASCII runes that fold to one (U+017F ſ, U+212A K)
    return key.replace("\u017f", "s").lower()  # str.lower maps U+212A to k; nothing else lowers to ASCII


def _zero(kind):
    if isinstance(kind, tuple):
        return _Slice()
    if kind in _STRUCTS:
        return {k: _zero(t) for k, t in _STRUCTS[kind].items()}
    return {"str": "", "int": 0, "float": 0.0, "raw": None, "values": ()}[kind]


def _decode(cur, v, kind, where):
    """v (parsed JSON) decoded into cur, a value of kind, as Go does."""
    if kind == "raw":
        return _plain(v)
    if kind == "values":
        return _values(v, where)
    if v is None:
        return _Slice() if isinstance(kind, tuple) else cur
    if isinstance(kind, tuple):
        if not isinstance(v, list) or isinstance(v, _Pairs):
            raise ManifestError(f"field {where}: expected array, got JSON {_kind(v)}")
        if not v:
            return _Slice()
        have = cur.items + cur.stale
        items = [_decode(have[i] if i < len(have) else _zero(kind[1]), x, kind[1], where) for i, x in enumerate(v)]
        return _Slice(items, have[len(v):])
    if kind in _STRUCTS:
        if not isinstance(v, _Pairs):
            raise ManifestError(f"field {where}: expected object, got JSON {_kind(v)}")
        fields, out = _STRUCTS[kind], dict(cur)
        for k, x in v:
            f = k if k in fields else next((f for f in fields if _fold(k) == f), None)
            if f is None:
                raise ManifestError(f"json: unknown field {json.dumps(k)}")
            out[f] = _decode(out[f], x, fields[f], f"{where}.{f}" if where else f)
        return out
    if kind == "str":
        if not isinstance(v, str):
            raise ManifestError(f"field {where}: expected string, got JSON {_kind(v)}")
        return _SURROGATE.sub("\ufffd", v)  # a lone surrogate escape (\ud800) reads as U+FFFD in Go
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ManifestError(f"field {where}: expected {'int' if kind == 'int' else 'float64'}, got JSON {_kind(v)}")
    if kind == "int":
        if not isinstance(v, int):
            raise ManifestError(f"field {where}: expected int, got JSON number {_number(v)}")
        if not -(1 << 63) <= v < (1 << 63):
            raise ManifestError(f"field {where}: an integer of {v.bit_length()} bits overflows int")
        return v
    if isinstance(v, _OutOfRange):
        raise ManifestError(f"field {where}: number {v.text} is out of the range of float64")
    try:
        return float(v)
    except OverflowError:  # an integer past float64's range, as Go refuses it
        raise ManifestError(f"field {where}: an integer of {v.bit_length()} bits is out of the range of float64") from None


def _values(v, where):
    """manifest.Values.UnmarshalJSON: an array is decoded afresh into a
    []float64 (a null element is 0), anything else into one float64 (null
    included, which leaves it 0)."""
    if isinstance(v, list) and not isinstance(v, _Pairs):
        return tuple(0.0 if x is None else _decode(0.0, x, "float", where) for x in v)
    return (0.0 if v is None else _decode(0.0, v, "float", where),)


def _number(v):
    return v.text if isinstance(v, _OutOfRange) else repr(v)


def _plain(v):
    """Parsed JSON with plain dicts (a repeated key: the last value, as json.loads reads it)."""
    if isinstance(v, _Pairs):
        return {k: _plain(x) for k, x in v}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _kind(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, _Pairs):
        return "object"
    if isinstance(v, list):
        return "array"
    return "null"


def _no_constant(name):
    # Python's json reads NaN and Infinity; JSON (and Go) does not.
    raise ManifestError(f"invalid JSON literal {name} (JSON has no NaN or Infinity)")


class _OutOfRange(float):
    """A number past float64's range (±Inf), with its text. Go refuses one in
    a float or int field and keeps it in config or hash_input (json.RawMessage)."""

    def __new__(cls, v, text):
        f = super().__new__(cls, v)
        f.text = text
        return f


def _parse_float(text):
    v = float(text)
    return _OutOfRange(v, text) if math.isinf(v) else v


def _parse_int(text):
    # Past 4300 digits int(text) raises ValueError (CPython's limit on
    # str-to-int conversions); Decimal converts without it. Go keeps any
    # integer in config or hash_input, and an int field refuses one past int64.
    return int(text) if len(text) < 4000 else int(decimal.Decimal(text))


# An invalid UTF-8 byte inside a JSON string reads as U+FFFD, one per byte,
# as Go's encoding/json reads it; outside a string it is a syntax error.
_ESCAPED = re.compile("[\udc80-\udcff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse(data: bytes) -> Manifest:
    """Decodes and validates a manifest (the bytes of manifest.json)."""
    if not data.strip():
        raise ManifestError("empty file, expected a JSON object")
    # surrogateescape keeps one character per invalid byte, so offsets map back to bytes
    text = bytes(data).decode("utf-8", "surrogateescape")
    try:
        doc = json.loads(_ESCAPED.sub("\ufffd", text), parse_constant=_no_constant, parse_float=_parse_float,
                         parse_int=_parse_int, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":
            raise ManifestError("trailing data after the manifest object") from None
        off = len(text[:e.pos].encode("utf-8", "surrogateescape"))
        raise ManifestError(f"offset {off}: {e.msg}") from None
    except RecursionError:  # Go refuses past 10000 levels; Python's parser stops near 1000
        raise ManifestError("JSON nested too deeply (more than about 900 levels)") from None
    if not isinstance(doc, _Pairs) and doc is not None:
        raise ManifestError(f"expected a JSON object, got JSON {_kind(doc)}")
    try:
        o = _decode(_zero("manifest"), doc, "manifest", "")
    except RecursionError:
        raise ManifestError("JSON nested too deeply (more than about 900 levels)") from None
    im, nm = o["image"], o["normalize"]
    items = lambda s: s.items  # noqa: E731
    m = Manifest(
        dataset=o["dataset"], version=o["version"], tool=o["tool"], created=o["created"],
        config=o["config"], hash_input=o["hash_input"],
        sources=[Source(**x) for x in items(o["sources"])],
        skipped=[Skipped(**x) for x in items(o["skipped"])],
        image=Image(**im),
        normalize=Normalize(**nm),
        classes=items(o["classes"]),
        splits=[Split(sp["name"], sp["rows"], items(sp["labels"]), [Shard(**sh) for sh in items(sp["shards"])])
                for sp in items(o["splits"])],
        raw=_plain(doc) if isinstance(doc, _Pairs) else {},
    )
    validate(m)
    return m


def validate(m: Manifest) -> None:
    """Checks that the manifest is internally consistent (Manifest.Validate)."""
    if m.dataset == "":
        raise ManifestError("dataset is empty")
    if not _HEX64.match(m.version):
        raise ManifestError(f"version {json.dumps(m.version)} is not a 64-digit hex SHA-256")
    im = m.image
    if im.height < 1 or im.width < 1 or im.channels < 1 or im.height * im.width * im.channels > 1 << 24:
        raise ManifestError(f"image shape {im.height}x{im.width}x{im.channels} is not valid")
    if im.dtype not in ("float32", "uint8"):
        raise ManifestError(f"image dtype {json.dumps(im.dtype)}, expected float32 or uint8")
    n = m.normalize
    if n.mode not in ("compute", "fixed", "none"):
        raise ManifestError(f"normalize.mode {json.dumps(n.mode)}, expected compute, fixed or none")
    # Normalize.ValidateFor
    if not n.mean or not n.std:
        raise ManifestError(f"normalize: mean and std need at least one value each, got {len(n.mean)} and {len(n.std)}")
    if len(n.mean) != len(n.std):
        raise ManifestError(f"normalize: {len(n.mean)} means but {len(n.std)} stds")
    for c, (mean, std) in enumerate(zip(n.mean, n.std)):
        at = f"[{c}]" if len(n.mean) > 1 else ""
        if not math.isfinite(mean):
            raise ManifestError(f"normalize.mean{at} {_gofloat(mean)} is not a finite number")
        if not (std > 0) or math.isinf(std):
            raise ManifestError(f"normalize.std{at} {_gofloat(std)}, expected a finite number > 0")
    if len(n.mean) != im.channels:
        raise ManifestError(f"normalize: {len(n.mean)} mean/std values for {im.channels} channels")
    if not m.classes:
        raise ManifestError("no classes")
    for s in m.sources:
        if not _HEX64.match(s.sha256):
            raise ManifestError(f"source {s.name}: sha256 {json.dumps(s.sha256)} is not 64 hex digits")
    seen = set()
    for sp in m.splits:
        if sp.name not in ("train", "val", "test"):
            raise ManifestError(f"unknown split {json.dumps(sp.name)}")
        if sp.name in seen:
            raise ManifestError(f"split {sp.name} listed twice")
        seen.add(sp.name)
        if len(sp.labels) != len(m.classes):
            raise ManifestError(f"split {sp.name}: label histogram has {len(sp.labels)} entries for {len(m.classes)} classes")
        if any(c < 0 for c in sp.labels):
            raise ManifestError(f"split {sp.name}: negative label count")
        hist, total = sum(sp.labels), 0
        for sh in sp.shards:
            if not _SHARD_PATH.match(sh.path) or ".." in sh.path:
                raise ManifestError(f"split {sp.name}: shard path {json.dumps(sh.path)} is not a plain file name")
            if "file:" + sh.path in seen:
                raise ManifestError(f"shard {sh.path} listed twice")
            seen.add("file:" + sh.path)
            if sh.rows < 0 or sh.bytes < 0:
                raise ManifestError(f"shard {sh.path}: negative rows or bytes")
            if not _HEX64.match(sh.sha256) or not _HEX64.match(sh.data_sha256):
                raise ManifestError(f"shard {sh.path}: sha256/data_sha256 must be 64 hex digits")
            total += sh.rows
        if total != sp.rows or hist != sp.rows:
            raise ManifestError(f"split {sp.name}: rows {sp.rows}, but shards hold {total} and the label histogram counts {hist}")
    want = "uint8" if n.mode == "none" else "float32"
    if im.dtype != want:
        raise ManifestError(f"normalize mode {json.dumps(n.mode)} needs image dtype {want}, manifest says {im.dtype}")


def _gofloat(v: float) -> str:
    """v as Go's %v prints a float64 (so messages read as the Go tools')."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e21:
        return str(int(v))
    return repr(v)


def load(path: str) -> Manifest:
    """Reads and validates the manifest at path (a file or a version directory)."""
    if os.path.isdir(path):
        path = os.path.join(path, FILE_NAME)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ManifestError(f"manifest: {e}") from e
    try:
        return parse(data)
    except ManifestError as e:
        raise ManifestError(f"manifest {path}: {e}") from None


def resolve(path: str) -> str:
    """Turns a path a user typed into a version directory, as the Go
    dataset.Resolve does: a version directory (or its manifest.json), a
    dataset directory (its latest version) or an output root of prep holding
    exactly one dataset."""
    from .store import parse_location

    loc = parse_location(path)
    if not loc.local:
        raise ValueError(f"{loc}: resolve finds local versions only; shardsmith.open reads a version on an object "
                         "store (through the shard cache)")
    path = loc.path
    if os.path.isfile(path) and os.path.basename(path) == FILE_NAME:
        return os.path.dirname(path) or "."
    if os.path.exists(os.path.join(path, FILE_NAME)):
        return path
    if os.path.exists(os.path.join(path, LATEST_NAME, FILE_NAME)):
        return os.path.join(path, LATEST_NAME)
    try:
        entries = sorted(os.listdir(path))
    except OSError as e:
        raise FileNotFoundError(f"{path}: {e.strerror}") from None
    choices = sorted(os.path.join(path, e) for e in entries
                     if os.path.exists(os.path.join(path, e, LATEST_NAME, FILE_NAME)))
    if not choices:
        raise FileNotFoundError(f"{path}: no dataset version here (expected a manifest.json, a dataset directory "
                                f"with a '{LATEST_NAME}' link, or an output root of prep)")
    if len(choices) > 1:
        raise ValueError(f"{path} holds {len(choices)} datasets; name one of:\n  " + "\n  ".join(choices))
    return os.path.join(choices[0], LATEST_NAME)
