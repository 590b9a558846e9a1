"""manifest.json: strict parsing and validation, with the rules of the Go
package formats/manifest (unknown fields, wrong types and impossible values
are errors; a missing field is its zero value, as in Go, and then fails
validation where it matters)."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

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
    what a reader should apply)."""

    mode: str
    mean: float
    std: float

    def table(self) -> np.ndarray:
        """The 256 float32 values of (x/255 - mean)/std, computed in float64
        and rounded once: bitwise the table of the Go trainer and of prep's
        normalize stage (formats/manifest/normalize.go)."""
        x = np.arange(256, dtype=np.float64)
        return ((x / 255 - self.mean) / self.std).astype(np.float32)

    def denormalize(self, v: np.ndarray) -> np.ndarray:
        """The nearest pixel bytes of normalized values, clamped to [0, 255]
        (the inverse of table for the values it holds)."""
        x = (np.asarray(v, dtype=np.float64) * self.std + self.mean) * 255
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
    raw: Dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def short_version(self) -> str:
        return self.version[:12]

    def split(self, name: str) -> Optional[Split]:
        for s in self.splits:
            if s.name == name:
                return s
        return None


# Decoding: each field's type as Go declares it. Go's encoding/json turns
# null into the zero value, rejects a number with a fraction or exponent for
# an int, and (with DisallowUnknownFields) any key it does not know.

def _int(v, where):
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int):
        raise ManifestError(f"field {where}: expected int, got JSON {_kind(v)}")
    if not -(1 << 63) <= v < (1 << 63):
        raise ManifestError(f"field {where}: {v} overflows int")
    return v


def _float(v, where):
    if v is None:
        return 0.0
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ManifestError(f"field {where}: expected float64, got JSON {_kind(v)}")
    return float(v)


def _str(v, where):
    if v is None:
        return ""
    if not isinstance(v, str):
        raise ManifestError(f"field {where}: expected string, got JSON {_kind(v)}")
    return v


def _list(v, where, item):
    if v is None:
        return []
    if not isinstance(v, list):
        raise ManifestError(f"field {where}: expected array, got JSON {_kind(v)}")
    return [item(x, where) for x in v]


def _obj(v, where, keys):
    if v is None:
        v = {}
    if not isinstance(v, dict):
        raise ManifestError(f"field {where}: expected object, got JSON {_kind(v)}")
    for k in v:
        if k not in keys:
            raise ManifestError(f"json: unknown field {json.dumps(k)}")
    return {k: v.get(k) for k in keys}


def _kind(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def _source(v, where):
    o = _obj(v, where, ("name", "file", "sha256", "bytes"))
    return Source(_str(o["name"], where + ".name"), _str(o["file"], where + ".file"),
                  _str(o["sha256"], where + ".sha256"), _int(o["bytes"], where + ".bytes"))


def _shard(v, where):
    o = _obj(v, where, ("path", "rows", "bytes", "sha256", "data_sha256"))
    return Shard(_str(o["path"], where + ".path"), _int(o["rows"], where + ".rows"), _int(o["bytes"], where + ".bytes"),
                 _str(o["sha256"], where + ".sha256"), _str(o["data_sha256"], where + ".data_sha256"))


def _split(v, where):
    o = _obj(v, where, ("name", "rows", "labels", "shards"))
    return Split(_str(o["name"], where + ".name"), _int(o["rows"], where + ".rows"),
                 _list(o["labels"], where + ".labels", _int), _list(o["shards"], where + ".shards", _shard))


_TOP = ("dataset", "version", "tool", "created", "config", "hash_input", "sources", "image", "normalize", "classes", "splits")


def _no_constant(name):
    # Python's json reads NaN and Infinity; JSON (and Go) does not.
    raise ManifestError(f"invalid JSON literal {name} (JSON has no NaN or Infinity)")


def _parse_float(text):
    v = float(text)
    if math.isinf(v):
        raise ManifestError(f"number {text} is out of the range of float64")
    return v


def parse(data: bytes) -> Manifest:
    """Decodes and validates a manifest (the bytes of manifest.json)."""
    if not data.strip():
        raise ManifestError("empty file, expected a JSON object")
    try:
        doc = json.loads(data, parse_constant=_no_constant, parse_float=_parse_float)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":
            raise ManifestError("trailing data after the manifest object") from None
        raise ManifestError(f"offset {e.pos}: {e.msg}") from None
    except UnicodeDecodeError as e:
        raise ManifestError(f"offset {e.start}: invalid UTF-8") from None
    o = _obj(doc, "", _TOP)
    im = _obj(o["image"], "image", ("height", "width", "channels", "dtype"))
    nm = _obj(o["normalize"], "normalize", ("mode", "mean", "std"))
    m = Manifest(
        dataset=_str(o["dataset"], "dataset"),
        version=_str(o["version"], "version"),
        tool=_str(o["tool"], "tool"),
        created=_str(o["created"], "created"),
        config=o["config"],
        hash_input=o["hash_input"],
        sources=_list(o["sources"], "sources", _source),
        image=Image(_int(im["height"], "image.height"), _int(im["width"], "image.width"),
                    _int(im["channels"], "image.channels"), _str(im["dtype"], "image.dtype")),
        normalize=Normalize(_str(nm["mode"], "normalize.mode"), _float(nm["mean"], "normalize.mean"),
                            _float(nm["std"], "normalize.std")),
        classes=_list(o["classes"], "classes", _str),
        splits=_list(o["splits"], "splits", _split),
        raw=doc,
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
    if not math.isfinite(n.mean):
        raise ManifestError(f"normalize.mean {_gofloat(n.mean)} is not a finite number")
    if not (n.std > 0) or math.isinf(n.std):
        raise ManifestError(f"normalize.std {_gofloat(n.std)}, expected a finite number > 0")
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
    path = os.fspath(path)
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
