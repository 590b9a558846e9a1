"""Opening a dataset version and reading its rows.

A shard is checked before its first use, as the Go reader (formats/dataset)
checks it: the file's size and SHA-256 against the manifest, every schema
metadata field, the columns, and the row count. A disagreement raises a
ShardError naming the file and the field, so nothing is read from a shard
that is not the one the version describes.

A shard file is memory-mapped once: its SHA-256 is taken over the mapping
and the shard is decoded from that same mapping. Uncompressed Arrow IPC
record batches are used in place; compressed ones (zstd, the default) are
decompressed once, on first use of the shard, and kept. Parquet shards are
decoded once likewise.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import math
import mmap
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import _decoded, _order
from .manifest import Manifest, ManifestError, Normalize, load, resolve
from .store import DEFAULT_CACHE_MB, Cache, default_cache_dir, fetch, parse_location

PIXELS = ("stored", "float32", "uint8")
_COLUMNS = ("source_index", "label", "copy", "image")
_INT = re.compile(r"^[+-]?[0-9]+\Z")
# what strconv.ParseFloat reads in decimal (hexadecimal floats aside)
_FLOAT = re.compile(r"^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|(?i:inf|infinity|nan))\Z")
_INF = re.compile(r"^[+-]?(?i:inf|infinity)\Z")


def _no_constant(name):
    raise ValueError(f"invalid JSON literal {name}")


def _gofloat_g(v: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64), for messages."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    r = repr(v)
    if r.endswith(".0"):
        r = r[:-2]
    m = re.match(r"^(-?[0-9.]+)e([+-])0*([0-9]+)$", r)
    if m:
        r = f"{m[1]}e{m[2]}{int(m[3]):02d}"
    return r


class ShardError(Exception):
    """A shard that cannot be read or disagrees with the manifest. field is
    what is wrong: file, bytes, sha256, format, rows, or a schema metadata key
    (dataset, version, split, height, width, channels, normalize, mean, std,
    classes); got and want are what the file holds and what the manifest says."""

    def __init__(self, path: str, field: str, detail: str, got: str = "", want: str = ""):
        super().__init__(f"shard {path}: {detail}")
        self.path, self.field, self.detail, self.got, self.want = path, field, detail, got, want


def open(path, *, pixels: str = "stored", verify: bool = True, cache_dir: Optional[str] = None,  # noqa: A001
         cache_mb: int = DEFAULT_CACHE_MB, decoded_cache: bool = True) -> "Dataset":
    """Opens a dataset version: a version directory, a dataset directory (its
    latest version) or an output root of prep holding one dataset, as the
    trainer's --shards takes; or the same on an object store
    (s3://BUCKET/PREFIX/DATASET[/VERSION|/latest]).

    A version on a store is read through the local shard cache the Go tools
    share (cache_dir, default $XDG_CACHE_HOME/shardsmith/shards, bounded to
    cache_mb MiB by evicting the least recently used files this version does
    not need): every shard is downloaded into it once, and admitted only
    after its size and SHA-256 matched the manifest; a cached file is hashed
    again before it is used. See shardsmith.store.

    pixels says what image arrays hold: "stored" (as the shards hold them:
    float32 normalized, or uint8 for normalize mode none), "float32" (the
    normalized floats the trainer feeds a model, bitwise the same from either
    kind of shard) or "uint8" (pixel bytes; denormalized from float32 shards).
    verify=False skips the SHA-256 of shard files (their size is still checked);
    the shard cache hashes every file it admits or finds either way.

    decoded_cache=True (the default) keeps a decoded copy of each compressed
    shard (zstd Arrow IPC, Parquet) in the shard cache once the shard has been
    checked and read whole (at the end of the Loader's first epoch, or on
    random access), and later opens read that copy instead of decompressing
    the shard: the copy is checked by digests of its own, written from the
    checked shard, and a copy that fails them is removed and the shard read
    instead (see shardsmith._decoded). It takes the uncompressed size of the
    shards in the cache, within cache_mb. False neither reads nor writes
    copies."""
    if pixels not in PIXELS:
        raise ValueError(f"pixels={pixels!r}, expected one of {', '.join(PIXELS)}")
    loc = parse_location(path)
    cache = {"cache_dir": cache_dir or default_cache_dir(), "cache_mb": cache_mb, "decoded": decoded_cache}
    if loc.local:
        d = resolve(loc.path)
        return Dataset(d, load(d), pixels=pixels, verify=verify, **cache)
    got = fetch(loc, cache_dir=cache_dir, cache_mb=cache_mb)
    ds = Dataset(got.url, got.manifest, pixels=pixels, verify=verify, files=got.files, **cache)
    ds._verified.update(got.files.values())  # each hashed by fetch, on the way in or from the cache
    return ds


class Dataset:
    """An opened dataset version. Safe to pickle (to DataLoader workers): a
    copy reopens and checks the shards it reads, hashing only those this one
    has not hashed yet.

    dir is the version directory, or the URL of a version on an object
    store, whose shard files are then files (shard path → local file).
    cache_dir holds the decoded copies of compressed shards where decoded is
    true (see open)."""

    def __init__(self, dir: str, manifest: Manifest, *, pixels: str = "stored", verify: bool = True,
                 files: Optional[Dict[str, str]] = None, cache_dir: Optional[str] = None,
                 cache_mb: int = DEFAULT_CACHE_MB, decoded: bool = False):
        self.dir, self.manifest, self.pixels, self.verify = dir, manifest, pixels, verify
        self.files = files
        self.cache_dir, self.cache_mb, self.decoded = cache_dir or default_cache_dir(), cache_mb, decoded
        for sp in manifest.splits:
            for sh in sp.shards:
                p = self._file(sh)
                try:
                    size = os.stat(p).st_size
                except OSError as e:
                    raise ShardError(p, "file", e.strerror or str(e)) from e
                if size != sh.bytes:
                    raise _size_error(p, size, sh.bytes)
        self._splits = {sp.name: Split(self, sp) for sp in manifest.splits}
        # shard files whose SHA-256 matched: not hashed again by this
        # Dataset nor by its pickled copies (DataLoader workers), which check sizes
        self._verified = set()

    def _file(self, sh) -> str:
        """The local file of shard sh."""
        return self.files[sh.path] if self.files is not None else os.path.join(self.dir, sh.path)

    def _copy_path(self, sh) -> Optional[str]:
        """Where the decoded copy of shard sh is kept (None: no copies)."""
        return _decoded.path_of(self.cache_dir, sh.sha256) if self.decoded and sh.rows else None

    def _cache_args(self):
        return {"cache_dir": self.cache_dir, "cache_mb": self.cache_mb, "decoded": self.decoded}

    @property
    def version(self) -> str:
        """The full SHA-256 version hash (directories use its first 12 digits)."""
        return self.manifest.version

    @property
    def short_version(self) -> str:
        return self.manifest.short_version

    @property
    def name(self) -> str:
        return self.manifest.dataset

    @property
    def classes(self) -> List[str]:
        return list(self.manifest.classes)

    @property
    def shape(self):
        """(height, width, channels) of one image."""
        im = self.manifest.image
        return (im.height, im.width, im.channels)

    @property
    def normalize(self) -> Normalize:
        return self.manifest.normalize

    @property
    def stored_dtype(self) -> str:
        return self.manifest.image.dtype

    @property
    def splits(self) -> List[str]:
        return [sp.name for sp in self.manifest.splits]

    def with_pixels(self, pixels: str) -> "Dataset":
        """The same version with another pixels setting (see open)."""
        if pixels not in PIXELS:
            raise ValueError(f"pixels={pixels!r}, expected one of {', '.join(PIXELS)}")
        ds = Dataset(self.dir, self.manifest, pixels=pixels, verify=self.verify, files=self.files, **self._cache_args())
        if self.files is not None:  # the cache's files, hashed on the way in
            ds._verified = set(self._verified)
        return ds

    def __getitem__(self, split: str) -> "Split":
        try:
            return self._splits[split]
        except KeyError:
            raise KeyError(f"dataset {self.dir}: no split {split!r} (have {', '.join(self.splits)})") from None

    def __contains__(self, split: str) -> bool:
        return split in self._splits

    def __repr__(self):
        return f"<shardsmith.Dataset {self.name} {self.short_version} {self.shape} splits={self.splits}>"

    def __getstate__(self):
        return {"dir": self.dir, "manifest": self.manifest, "pixels": self.pixels, "verify": self.verify,
                "files": self.files, "verified": sorted(self._verified), "cache": self._cache_args()}

    def __setstate__(self, s):
        self.__init__(s["dir"], s["manifest"], pixels=s["pixels"], verify=s["verify"], files=s.get("files"),
                      **s.get("cache", {}))
        self._verified = set(s["verified"])


class _ShardData:
    """The columns of one checked shard, record batch by record batch (row
    group by row group): batches, memory-mapped in place when uncompressed.
    cols, for random access, holds each column as one array: a shard of one
    batch has it as it is; others are concatenated on first use of cols,
    after which batches are slices of it. The loader (Gather) reads batches:
    concatenating copies every byte of a decompressed shard once more, before
    the first batch of an epoch.

    Read from a decoded copy (see _decoded), a shard has cols from the start
    and blocks, whose images are hashed on first use: check(rows) before
    reading images, which (copy damaged) replaces the columns by the shard's
    own (refill). A shard decoded from compressed bytes has save, which
    writes its decoded copy once cols exist."""

    def __init__(self, batches: List[Dict[str, np.ndarray]], empty: Dict[str, np.ndarray]):
        self.rows = [len(b["label"]) for b in batches]
        self.batches, self._empty = batches, empty
        self._cols = batches[0] if len(batches) == 1 else None
        self._lock = threading.Lock()
        self.blocks: Optional[_decoded.Blocks] = None
        self.refill = None  # () -> _ShardData from the shard itself
        self.save = None  # (cols, batch_rows) -> None: writes the decoded copy

    @classmethod
    def whole(cls, cols: Dict[str, np.ndarray], batch_rows: List[int], empty) -> "_ShardData":
        """A shard whose columns are one array each already, in record batches of batch_rows."""
        d = cls([cols], empty)
        d.rows = list(batch_rows)
        ends = np.cumsum(d.rows).tolist()
        d.batches = [{k: v[e - n:e] for k, v in cols.items()} for n, e in zip(d.rows, ends)]
        return d

    @property
    def cols(self) -> Dict[str, np.ndarray]:
        if self._cols is None or self.save is not None:
            with self._lock:
                if self._cols is None:
                    cols = {k: np.concatenate([b[k] for b in self.batches] or [self._empty[k]]) for k in self._empty}
                    ends = np.cumsum(self.rows).tolist()
                    self.batches = [{k: v[e - n:e] for k, v in cols.items()} for n, e in zip(self.rows, ends)]
                    self._cols = cols
                save, self.save = self.save, None
                if save is not None:
                    save(self._cols, self.rows)
        return self._cols

    def check(self, rows: np.ndarray) -> None:
        """Makes sure the images of rows (local indices) are checked: hashes
        the decoded copy's blocks they lie in, first use only. A damaged
        block drops the copy: the columns are then the shard's own."""
        b = self.blocks
        if b is None:
            return
        try:
            b.check(rows)
            if b.ok.all():
                self.blocks = None
        except _decoded.Damaged:
            with self._lock:
                if self.blocks is b:
                    fresh = self.refill()
                    cols = fresh.cols  # concatenated, and (a new copy) saved
                    self.batches, self._cols, self.blocks = fresh.batches, cols, None


class Split:
    """The rows of one split, in manifest order: len(), [i] (a dict with
    image (H, W, C), label, source_index, copy), take(indices) for many rows
    at once, and order(seed, epoch) for the trainer's epoch order."""

    def __init__(self, ds: Dataset, sp):
        self.dataset, self.name, self._sp = ds, sp.name, sp
        self._starts = np.cumsum([0] + [sh.rows for sh in sp.shards])
        self._shards: Dict[int, _ShardData] = {}
        self._lock = threading.Lock()
        self._locks: Dict[int, threading.Lock] = {}
        m = ds.manifest
        self._convert = None
        if ds.pixels == "float32" and m.image.dtype == "uint8":
            self._convert = m.normalize.apply
        elif ds.pixels == "uint8" and m.image.dtype == "float32":
            self._convert = m.normalize.denormalize

    def __len__(self) -> int:
        return self._sp.rows

    @property
    def shards(self) -> List[str]:
        """The shard files, in manifest order (in the shard cache for a
        version on an object store)."""
        return [self.dataset._file(sh) for sh in self._sp.shards]

    def __repr__(self):
        return f"<shardsmith.Split {self.name}: {len(self)} rows in {len(self._sp.shards)} shards>"

    def _shard(self, i: int, copy_only: bool = False) -> Optional[_ShardData]:
        """Shard i, read on first use; copy_only: only if it has a decoded
        copy that passes its checks (else None, and it is not read)."""
        d = self._shards.get(i)
        if d is None:
            with self._lock:
                lock = self._locks.setdefault(i, threading.Lock())
            with lock:  # one reader per shard; shards are read in parallel
                d = self._shards.get(i)
                if d is None:
                    d = _read(self.dataset, self._sp, i, copy_only)
                    if d is not None:
                        self._shards[i] = d
        return d

    def batch_rows(self) -> List[List[int]]:
        """The row count of every record batch (Parquet: row group) of every
        shard, in manifest order. Reads, and so checks, every shard."""
        return [list(d.rows) for d in self._read_all()[0]]

    def _read_all(self, meanwhile=None):
        """Reads (checks and decodes) every shard not read yet, on a few
        threads (hashing and decompressing run outside the GIL), while this
        thread runs meanwhile(): (the shards in manifest order, what
        meanwhile returned). The first shard in manifest order that fails
        raises its ShardError; shards not started by then are not read.
        Shards with a decoded copy are read first, in this thread: opening
        a copy costs less than starting and waiting for threads."""
        n = len(self._sp.shards)
        for i in range(n):
            if i not in self._shards:
                self._shard(i, copy_only=True)
        todo = [i for i in range(n) if i not in self._shards]
        if not todo:
            r = meanwhile() if meanwhile is not None else None
            return [self._shards[i] for i in range(n)], r
        pool = ThreadPoolExecutor(max_workers=max(1, min(len(todo), os.cpu_count() or 1, 8)))
        try:
            futs = [pool.submit(self._shard, i) for i in todo]
            r = meanwhile() if meanwhile is not None else None
            for f in futs:
                f.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return [self._shards[i] for i in range(n)], r

    def order(self, seed: int, epoch: int, *, window: int = _order.DEFAULT_WINDOW, shuffle: bool = True) -> np.ndarray:
        """The order in which the Go trainer reads this split's rows in epoch
        (from 0) of a run with --seed seed and --shuffle-window window: an
        int64 array of row indices of this split (as trainer order prints).

        It follows from the shards' row counts in the manifest and, only
        where the window is emitted inside a shard, that shard's record batch
        sizes (see _order.order_of): reads, and so checks, just those shards
        (none when window >= len(self)). A shard whose row count is not the
        manifest's fails when it is read, before any of its rows is used."""
        return _order.order_of([sh.rows for sh in self._sp.shards], lambda i: self._shard(i).rows, shuffle, seed,
                               epoch, window)

    def _locate(self, idx: np.ndarray):
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = idx[(idx < -n) | (idx >= n)][0]
            raise IndexError(f"row {bad} out of range for split {self.name} of {n} rows")
        idx = np.where(idx < 0, idx + n, idx)
        return idx, np.searchsorted(self._starts, idx, side="right") - 1

    @property
    def has_source_paths(self) -> bool:
        """Whether rows carry source_path: the file of an image tree or list
        source each row came from, relative to its split's root."""
        return self.dataset.manifest.source_paths

    def take(self, indices: Sequence[int]) -> Dict[str, np.ndarray]:
        """The rows at indices, as arrays: image (len, H, W, C), label (int64),
        source_index (uint64), copy (int64), index (the row indices) and, for
        image tree and list sources, source_path (an object array of str)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        idx, shard_of = self._locate(idx)
        h, w, c = self.dataset.shape
        stored = np.float32 if self.dataset.manifest.image.dtype == "float32" else np.uint8
        out = {
            "image": np.empty((len(idx), h * w * c), dtype=stored),
            "label": np.empty(len(idx), dtype=np.int64),
            "source_index": np.empty(len(idx), dtype=np.uint64),
            "copy": np.empty(len(idx), dtype=np.int64),
        }
        if self.has_source_paths:
            out["source_path"] = np.empty(len(idx), dtype=object)
        for s in np.unique(shard_of):
            sel = np.nonzero(shard_of == s)[0]
            d = self._shard(int(s))
            local = idx[sel] - self._starts[s]
            d.check(local)
            src = d.cols
            for k in out:
                out[k][sel] = src[k][local]
        img = out["image"]
        if self._convert is not None:
            img = self._convert(img)
        out["image"] = img.reshape(len(idx), h, w, c)
        out["index"] = idx
        return out

    def consolidate(self) -> None:
        """Concatenates the record batches of every shard read so far into
        one array per column (what random access uses), so that a later
        gather makes one gather per shard instead of one per record batch."""
        for d in list(self._shards.values()):
            d.cols

    def gather(self, order: Sequence[int]) -> "Gather":
        """The rows of order (row indices, e.g. an epoch's), for reading
        range by range into preallocated arrays (what the torch Loader does):
        reads every shard; the int columns of the whole order are gathered
        here at once."""
        return Gather(self, order)

    def __getitem__(self, i: int) -> dict:
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"split rows are indexed by int, not {type(i).__name__} (use take for many rows)")
        r = self.take([i])
        row = {"image": r["image"][0], "label": int(r["label"][0]), "source_index": int(r["source_index"][0]),
               "copy": int(r["copy"][0])}
        if "source_path" in r:
            row["source_path"] = r["source_path"][0]
        return row

    def __iter__(self) -> Iterator[dict]:
        for i in range(len(self)):
            yield self[i]

    def to_arrow(self) -> pa.Table:
        """All rows as one Arrow table with the shard schema, read from the
        shard files after they were checked (not from decoded copies)."""
        ds, tables = self.dataset, []
        for i, sh in enumerate(self._sp.shards):
            self._shard(i)
            p = ds._file(sh)
            buf = _check_bytes(p, sh, ds.verify and p not in ds._verified)
            ds._verified.add(p)
            tables.append(pq.read_table(pa.BufferReader(buf)) if p.endswith(".parquet")
                          else pa.ipc.open_file(buf).read_all())
        return pa.concat_tables(tables)


class Gather:
    """The rows of an order of a split, by ranges of positions in it.

    ints is an int64 array (4, len(order)): label, source_index, copy and
    index (the row) of every position, so a range's are a slice of it.
    images(a, b, out) writes the images of positions [a, b) into out
    (b - a, H, W, C) of image_dtype, as Split.take would give them: one
    gather per record batch the range touches, no per-row Python work."""

    def __init__(self, split: Split, order: Sequence[int]):
        order, _ = split._locate(np.asarray(order, dtype=np.int64).reshape(-1))
        self._from = (split.dataset, split.name, order)
        data = split._read_all()[0]
        # the split's rows in pieces, in manifest order: a shard whose columns are one array already (cols) is
        # one piece, others one per record batch (more gathers per range, but no copy before the first)
        pieces = [b for d in data for b in ([d._cols] if d._cols is not None else d.batches)]
        # per piece, the shard whose decoded copy it is (its images hashed block by block on first use), or None
        self._check = [d if d._cols is not None and d.blocks is not None else None
                       for d in data for _ in ([d._cols] if d._cols is not None else d.batches)]
        self._data = [d for d in data for _ in ([d._cols] if d._cols is not None else d.batches)]
        self._images = [b["image"] for b in pieces]
        self._paths = [b["source_path"] for b in pieces] if split.has_source_paths else None
        starts = np.cumsum([0] + [len(b["label"]) for b in pieces])
        # side="right": a position falls in the last piece starting at or before it, so never in an empty one
        self._piece_of = np.searchsorted(starts, order, side="right") - 1
        self._local = order - starts[self._piece_of]
        self.ints = np.empty((4, len(order)), dtype=np.int64)
        for r, k in enumerate(("label", "source_index", "copy")):
            col = np.concatenate([b[k] for b in pieces]) if pieces else np.empty(0, np.int64)
            self.ints[r] = col[order]
        self.ints[3] = order
        self._convert = split._convert
        self.shape = split.dataset.shape
        stored = np.dtype(split.dataset.manifest.image.dtype)
        self.image_dtype = stored if self._convert is None else (
            np.dtype(np.float32) if stored == np.uint8 else np.dtype(np.uint8))

    def __len__(self) -> int:
        return self.ints.shape[1]

    def __getstate__(self):
        # to a spawned process: the dataset (which reopens its shards, without
        # hashing those already checked) and the order, not the decoded arrays
        return self._from

    def __setstate__(self, s):
        ds, name, order = s
        self.__init__(ds[name], order)

    def images(self, a: int, b: int, out: np.ndarray) -> np.ndarray:
        pc, loc = self._piece_of[a:b], self._local[a:b]
        if b <= a:
            return out
        if any(self._check):
            for p in np.unique(pc).tolist():
                d = self._check[p]
                if d is not None:
                    d.check(loc[pc == p])
                    self._images[p] = d._cols["image"]  # the shard's own after a damaged block
                    if d.blocks is None:
                        self._check[p] = None
        flat = out.reshape(b - a, -1)
        dst = flat if self._convert is None else np.empty((b - a, flat.shape[1]), self._images[0].dtype)
        if (pc == pc[0]).all():
            np.take(self._images[pc[0]], loc, axis=0, out=dst)
        else:  # the positions grouped by piece: one gather per piece the range touches
            by = np.argsort(pc, kind="stable")
            ps = pc[by]
            cuts = (np.flatnonzero(ps[1:] != ps[:-1]) + 1).tolist()
            for lo, hi in zip([0] + cuts, cuts + [len(ps)]):
                sel = by[lo:hi]
                dst[sel] = self._images[ps[lo]][loc[sel]]
        if self._convert is not None:
            flat[...] = self._convert(dst)
        return out

    def source_paths(self, a: int, b: int) -> List[str]:
        """The source_path of positions [a, b) (image tree and list sources)."""
        pc, loc = self._piece_of[a:b], self._local[a:b]
        return [self._paths[p][i] for p, i in zip(pc.tolist(), loc.tolist())]


def _size_error(p, got, want):
    return ShardError(p, "bytes", f"{got} bytes, manifest says {want} (truncated or replaced)", str(got), str(want))


def _read(ds: Dataset, sp, i: int, copy_only: bool = False) -> Optional[_ShardData]:
    """Shard i of split sp: from its decoded copy where there is one that
    passes its checks, else (unless copy_only: None) from the shard file
    (writing a decoded copy once its columns are whole, for a compressed
    shard)."""
    sh = sp.shards[i]
    cpath = ds._copy_path(sh)
    if cpath is not None:
        d = _read_copy(ds, sp, i, cpath)
        if d is not None or copy_only:
            return d
    elif copy_only:
        return None
    d = _read_shard(ds, sp, i)
    if cpath is not None and not d.in_place:
        d.save = lambda cols, rows: _save_copy(ds, sp, cpath, d.schema, cols, rows)
    return d


def _save_copy(ds: Dataset, sp, cpath: str, schema: pa.Schema, cols, rows) -> None:
    """Writes a decoded copy (best effort: a cache that cannot take it only
    means the next open decodes the shard again), then keeps the cache
    within its size, sparing this version's files."""
    try:
        os.makedirs(ds.cache_dir, exist_ok=True)
        _decoded.write(cpath, os.path.basename(cpath)[:-len(_decoded.SUFFIX)], schema, cols, rows)
        keep = {os.path.basename(ds._copy_path(sh) or "") for s in ds.manifest.splits for sh in s.shards}
        if ds.files is not None:
            keep |= {os.path.basename(f) for f in ds.files.values()}
        Cache(ds.cache_dir, ds.cache_mb << 20).evict(keep)
    except OSError:
        pass


def _read_copy(ds: Dataset, sp, i: int, cpath: str) -> Optional[_ShardData]:
    """Shard i from its decoded copy at cpath, after the copy's checks (all
    but the image blocks, hashed on first use); None where there is no copy
    or it fails them (it is then removed)."""
    sh = sp.shards[i]
    p = ds._file(sh)
    try:
        f = builtins.open(cpath, "rb")
    except OSError:
        return None
    try:
        with f:
            buf = pa.py_buffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
        rd = pa.ipc.open_file(buf)
        if rd.num_record_batches != 1:
            raise _decoded.Damaged(f"{rd.num_record_batches} record batches")
        rec = rd.get_batch(0)
        batch_rows, br, cdig, digests = _decoded.record(rd.schema, sh.sha256, sh.rows, rec.num_rows)
        meta = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in (rd.schema.metadata or {}).items()
                if not k.startswith(_decoded.KEY)}
        _check_meta(p, meta, ds.manifest, sp.name)
        elems = ds.shape[0] * ds.shape[1] * ds.shape[2]
        if _check_columns(cpath, rd.schema, ds.manifest.image.dtype, elems) != ds.manifest.source_paths:
            raise _decoded.Damaged("source_path column")
        cols = _columns(cpath, rec, elems)
        if _decoded.columns_digest(cols) != cdig:
            raise _decoded.Damaged("columns digest")
    except (_decoded.Damaged, ShardError, pa.ArrowException, OSError, ValueError):
        _decoded.remove(cpath)
        return None
    try:
        os.utime(cpath)  # recently used, for the caches' LRU order
    except OSError:
        pass
    d = _ShardData.whole(cols, batch_rows, _empty(ds.manifest.image.dtype, elems, ds.manifest.source_paths))
    d.blocks = _decoded.Blocks(cols["image"], br, digests)

    def refill():
        _decoded.remove(cpath)
        fresh = _read_shard(ds, sp, i)
        fresh.save = lambda c, r: _save_copy(ds, sp, cpath, fresh.schema, c, r)
        return fresh
    d.refill = refill
    return d


def _read_shard(ds: Dataset, sp, i: int) -> _ShardData:
    sh = sp.shards[i]
    p = ds._file(sh)
    buf = _check_bytes(p, sh, ds.verify and p not in ds._verified)
    try:
        if p.endswith(".parquet"):
            pf = pq.ParquetFile(pa.BufferReader(buf))
            schema = pf.schema_arrow
            md = pf.metadata.metadata or {}
            tables = (pf.read_row_group(g) for g in range(pf.num_row_groups))
            batches = (t.combine_chunks().to_batches()[0] if t.num_rows else None for t in tables)
        else:
            rd = pa.ipc.open_file(buf)
            schema, md = rd.schema, rd.schema.metadata or {}
            batches = (rd.get_batch(b) for b in range(rd.num_record_batches))
        meta = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in md.items()}
        _check_meta(p, meta, ds.manifest, sp.name)
        elems = ds.shape[0] * ds.shape[1] * ds.shape[2]
        stored = ds.manifest.image.dtype
        paths = _check_columns(p, schema, stored, elems)
        if paths != ds.manifest.source_paths:
            have = "has" if paths else "has no"
            want = "image tree or list" if ds.manifest.source_paths else "IDX"
            raise ShardError(p, "source_path", f"shard {have} source_path column, but the manifest's sources are {want} "
                                               "sources", str(paths).lower(), str(ds.manifest.source_paths).lower())
        out, rows = [], 0
        for b, rec in enumerate(batches):
            if rec is None:
                out.append(_empty(stored, elems, paths))
                continue
            rows += rec.num_rows
            if rows > sh.rows:
                raise ShardError(p, "rows", f"more than the {sh.rows} rows the manifest lists (batch {b} ends at row {rows})",
                                 f"more than {sh.rows}", str(sh.rows))
            out.append(_columns(p, rec, elems))
    except ShardError:
        raise
    except (pa.ArrowException, OSError, ValueError) as e:
        raise ShardError(p, "format", f"not a readable shard: {e}") from e
    if rows != sh.rows:
        raise ShardError(p, "rows", f"{rows} rows, manifest lists {sh.rows}", str(rows), str(sh.rows))
    ds._verified.add(p)
    d = _ShardData(out, _empty(stored, elems, paths))
    d.schema = schema
    # decoded in place (an uncompressed Arrow IPC shard) or into memory of its own (decompressed, or Parquet)
    first = next((b["image"] for b in out if len(b["image"])), None)
    d.in_place = first is None or (not p.endswith(".parquet")
                                   and buf.address <= first.__array_interface__["data"][0] < buf.address + buf.size)
    return d


def _empty(stored, elems, paths=False):
    out = {"source_index": np.empty(0, np.uint64), "label": np.empty(0, np.uint8), "copy": np.empty(0, np.uint16),
           "image": np.empty((0, elems), np.dtype(stored))}
    if paths:
        out["source_path"] = np.empty(0, dtype=object)
    return out


_NUMPY = {pa.uint64(): np.uint64, pa.uint16(): np.uint16, pa.uint8(): np.uint8, pa.float32(): np.float32}


def _numpy(a: pa.Array) -> np.ndarray:
    """The values of a primitive array without nulls (of a type the schema
    check allows), in place. (pyarrow's to_numpy imports pandas on its first
    use: most of a second before the first batch.)"""
    dt = np.dtype(_NUMPY[a.type])
    buf = a.buffers()[1]
    if buf is None or len(a) == 0:
        return np.empty(0, dt)
    return np.frombuffer(buf, dtype=dt, count=len(a), offset=a.offset * dt.itemsize)


def _columns(p, rec: pa.RecordBatch, elems: int) -> Dict[str, np.ndarray]:
    img = rec.column(3)
    if pa.types.is_fixed_size_list(img.type):
        vals = img.flatten()  # respects the array's offset
    else:  # Parquet's list: every row must hold elems values
        off = img.offsets.to_numpy()
        if img.null_count or not np.array_equal(np.diff(off), np.full(len(img), elems)):
            raise ShardError(p, "format", f"image lists are not all {elems} values long")
        vals = img.flatten()
    if vals.null_count or any(rec.column(i).null_count for i in range(rec.num_columns) if i != 3):
        raise ShardError(p, "format", "null values in a shard column")
    out = {
        "source_index": _numpy(rec.column(0)),
        "label": _numpy(rec.column(1)),
        "copy": _numpy(rec.column(2)),
        "image": _numpy(vals).reshape(-1, elems),
    }
    if rec.num_columns > 4:
        paths = np.empty(rec.num_rows, dtype=object)
        for i, raw in enumerate(rec.column(4).cast(pa.binary()).to_pylist()):
            try:
                paths[i] = raw.decode("utf-8")
            except UnicodeDecodeError:  # the Arrow reader does not check; Go's does
                raise ShardError(p, "format", f"row {i}: source_path is not valid UTF-8") from None
        out["source_path"] = paths
    return out


def _check_bytes(p, sh, verify: bool) -> pa.Buffer:
    """The bytes of shard file p, memory-mapped, after checking their size
    and (if verify) their SHA-256 against the manifest's: hashed in one call
    over the mapping (no copies, outside the GIL), and the same mapping is
    what the shard is then decoded from."""
    try:
        f = builtins.open(p, "rb")
    except OSError as e:
        raise ShardError(p, "file", e.strerror or str(e)) from e
    with f:
        size = os.fstat(f.fileno()).st_size
        if size != sh.bytes:
            raise _size_error(p, size, sh.bytes)
        try:
            buf = pa.py_buffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)) if size else pa.py_buffer(b"")
        except (OSError, ValueError) as e:
            raise ShardError(p, "file", f"cannot map the file: {e}") from e
    if len(buf) != sh.bytes:  # changed since the fstat
        raise _size_error(p, len(buf), sh.bytes)
    if verify:
        got = hashlib.sha256(buf).hexdigest()
        if got != sh.sha256:
            raise ShardError(p, "sha256", f"SHA-256 {got}, manifest says {sh.sha256} (the file is damaged or was "
                                          "replaced; prep verify tells more)", got, sh.sha256)
    return buf


def _check_meta(p, meta: Dict[str, str], m: Manifest, split: str):
    """Compares the schema metadata with the manifest, field by field, as
    the Go reader does (parse errors are format errors)."""
    def get(k):
        if k not in meta:
            raise ShardError(p, "format", f"shard schema: schema metadata has no {json.dumps(k)}")
        return meta[k]

    def num(k):
        v = get(k)
        if not _INT.match(v):
            raise ShardError(p, "format", f"shard schema: metadata {k}={v!r} is not an integer")
        n = int(v)
        if n < 1 or n > 1 << 16:
            raise ShardError(p, "format", f"shard schema: metadata {k}={n} out of range")
        return n

    def flt(k):
        # manifest.ParseValues: a text starting with '[' is a JSON array of
        # numbers, anything else one number as strconv.ParseFloat reads it
        v = get(k)
        try:
            if v.startswith("["):
                a = json.loads(v, parse_constant=_no_constant)
                if not isinstance(a, list) or not a or not all(
                        x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in a):
                    raise ValueError("not a JSON array of numbers")
                vals = tuple(0.0 if x is None else float(x) for x in a)
                if any(math.isinf(x) for x in vals):
                    raise ValueError("a value out of the range of float64")
                return vals
            if not _FLOAT.match(v):
                raise ValueError("not a number")
            f = float(v)
            if math.isinf(f) and not _INF.match(v):
                raise ValueError("out of the range of float64")
            return (f,)
        except (ValueError, OverflowError, RecursionError) as e:
            raise ShardError(p, "format", f"shard schema: metadata {k}={v!r}: {e}") from None

    try:
        classes = json.loads(get("classes"))
    except json.JSONDecodeError as e:
        raise ShardError(p, "format", f"shard schema: metadata classes: {e}") from None
    fields = [
        ("dataset", get("dataset"), m.dataset),
        ("version", get("version"), m.version),
        ("split", get("split"), split),
        ("height", num("height"), m.image.height),
        ("width", num("width"), m.image.width),
        ("channels", num("channels"), m.image.channels),
        ("normalize", get("normalize"), m.normalize.mode),
        ("mean", flt("mean"), m.normalize.mean),
        ("std", flt("std"), m.normalize.std),
        ("classes", classes, list(m.classes)),
    ]
    for key, got, want in fields:
        if isinstance(want, tuple):  # reflect.DeepEqual of float64 slices: NaN differs from everything
            same = len(got) == len(want) and all(g == w for g, w in zip(got, want))
        else:
            same = got == want
        if not same or type(got) is not type(want):
            g, w = _meta_value(got), _meta_value(want)
            raise ShardError(p, key, f"schema metadata {key} = {g} does not match the manifest's {w}", g, w)


def _meta_value(v):
    if isinstance(v, tuple):  # Values.Text
        if len(v) == 1:
            return _gofloat_g(v[0])
        return "[" + ",".join(_gofloat_g(x) for x in v) + "]"
    if isinstance(v, (str, list)):
        return json.dumps(v)
    return str(v)


def _check_columns(p, schema: pa.Schema, stored: str, elems: int):
    names = tuple(schema.names)
    want = {"source_index": pa.uint64(), "label": pa.uint8(), "copy": pa.uint16()}
    paths = names == _COLUMNS + ("source_path",) and schema.field("source_path").type == pa.string()
    ok = (names == _COLUMNS or paths) and all(schema.field(k).type == t for k, t in want.items())
    if ok:
        t = schema.field("image").type
        vt = pa.float32() if stored == "float32" else pa.uint8()
        if pa.types.is_fixed_size_list(t):
            ok = t.list_size == elems and t.value_type == vt
        else:
            ok = pa.types.is_list(t) and t.value_type == vt and p.endswith(".parquet")
    if not ok:
        raise ShardError(p, "format", f"shard schema: columns are {schema.types} {names}, want source_index uint64, "
                                      f"label uint8, copy uint16, image {elems} x {stored} (and, for image tree "
                                      "and list sources, source_path utf8)")
    return paths
