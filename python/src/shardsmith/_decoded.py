"""The decoded copy of a compressed shard, kept in the shard cache.

Decompressing a split's zstd shards costs more CPU than anything else
before a shuffled first batch (which draws rows from nearly every record
batch of the split). So once a compressed shard (zstd Arrow IPC, or
Parquet) has been checked against the manifest and decoded, its columns are
written, uncompressed and as one record batch, to SHA256.decoded.arrow in
the shard cache (the directory the Go tools share; SHA256 is the shard's
own, from the manifest). A later open memory-maps that file instead of
decompressing the shard.

The copy carries its own check, in its schema metadata (next to the
shard's, which the reader checks against the manifest as for the shard):

* shardsmith.decoded: JSON {"format", "shard" (the SHA-256 of the shard it
  was decoded from), "rows", "batch_rows" (the shard's record batch sizes,
  which the epoch order may need), "block_rows", "columns" (the SHA-256 of
  the source_index, label and copy values and of the source_path strings)};
* shardsmith.decoded.blocks: the SHA-256 digests (32 bytes each) of the
  image values, block_rows rows at a time (about 8 KiB: a first batch of
  128 rows hashes at most 128 of them, 1 MiB).

On reuse the small columns are hashed when the copy is opened and each block
of images just before its first use (so a first batch hashes the blocks of
its own rows, not the whole split). A copy that fails any check is removed
and the shard itself is read (and checked against the manifest) instead,
whether that happens on opening the copy or at a block met later (rows
already used came from blocks that had passed).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from typing import Dict, List, Optional

import numpy as np
import pyarrow as pa

from .store import replacing

SUFFIX = ".decoded.arrow"
FORMAT = 1
KEY = b"shardsmith.decoded"
BLOCKS = b"shardsmith.decoded.blocks"
BLOCK_BYTES = 8 << 10
_DIGEST = 32
_NUMPY = {pa.uint64(): np.uint64, pa.uint16(): np.uint16, pa.uint8(): np.uint8, pa.float32(): np.float32}


class Damaged(Exception):
    """A decoded copy that fails its own check (never raised to users: the
    shard is read instead)."""


def path_of(cache_dir: str, sha256: str) -> str:
    return os.path.join(cache_dir, sha256 + SUFFIX)


def block_rows_of(image: np.ndarray) -> int:
    row = image.shape[1] * image.itemsize if image.ndim == 2 else 1
    return max(1, BLOCK_BYTES // max(row, 1))


def columns_digest(cols: Dict[str, np.ndarray]) -> str:
    """The SHA-256 of the small columns' values (and source paths)."""
    h = hashlib.sha256()
    for k in ("source_index", "label", "copy"):
        v = np.ascontiguousarray(cols[k])
        h.update(len(v).to_bytes(8, "little"))
        h.update(v)
    if "source_path" in cols:
        for s in cols["source_path"].tolist():
            b = s.encode("utf-8")
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
    return h.hexdigest()


def block_digests(image: np.ndarray, block_rows: int) -> bytes:
    return b"".join(hashlib.sha256(image[a:a + block_rows]).digest() for a in range(0, len(image), block_rows))


def write(path: str, shard_sha256: str, schema: pa.Schema, cols: Dict[str, np.ndarray], batch_rows: List[int]) -> None:
    """Writes the decoded copy of a checked shard (its columns as one array
    each, its record batch sizes), atomically (store.replacing)."""
    image = np.ascontiguousarray(cols["image"])
    br = block_rows_of(image)
    rec_md = {"format": FORMAT, "shard": shard_sha256, "rows": int(len(image)), "batch_rows": [int(n) for n in batch_rows],
              "block_rows": br, "columns": columns_digest(cols)}
    md = dict(schema.metadata or {})
    md[KEY] = json.dumps(rec_md, sort_keys=True).encode()
    md[BLOCKS] = block_digests(image, br)
    elems = image.shape[1]
    vt = schema.field("image").type.value_type
    arrays = [_array(cols["source_index"], pa.uint64()), _array(cols["label"], pa.uint8()),
              _array(cols["copy"], pa.uint16()),
              pa.FixedSizeListArray.from_arrays(_array(image.reshape(-1), vt), elems)]
    fields = [schema.field(i) for i in range(3)] + [pa.field("image", pa.list_(vt, elems), nullable=False)]
    if "source_path" in cols:
        raw = [s.encode("utf-8") for s in cols["source_path"].tolist()]
        off = np.zeros(len(raw) + 1, dtype=np.int32)
        np.cumsum([len(b) for b in raw], out=off[1:])
        arrays.append(pa.Array.from_buffers(pa.string(), len(raw), [None, pa.py_buffer(off), pa.py_buffer(b"".join(raw))]))
        fields.append(schema.field("source_path"))
    out_schema = pa.schema(fields, metadata=md)
    rec = pa.RecordBatch.from_arrays(arrays, schema=out_schema)
    with replacing(path) as f:
        with pa.ipc.new_file(f, out_schema) as w:
            w.write_batch(rec)


def _array(v: np.ndarray, t: pa.DataType) -> pa.Array:
    """A primitive Arrow array over v's memory (pa.array would import pandas)."""
    v = np.ascontiguousarray(v, dtype=_NUMPY[t])
    return pa.Array.from_buffers(t, len(v), [None, pa.py_buffer(v)])


def record(schema: pa.Schema, shard_sha256: str, rows: int, image_rows: int):
    """(batch_rows, block_rows, columns digest, block digests) of a decoded
    copy's schema metadata, after checking that it is a copy of this shard;
    Damaged where it is not one, or not whole."""
    md = schema.metadata or {}
    try:
        r = json.loads(md[KEY])
        digests = md[BLOCKS]
        batch_rows, br, cdig = r["batch_rows"], r["block_rows"], r["columns"]
        ok = (r["format"] == FORMAT and r["shard"] == shard_sha256 and r["rows"] == rows == image_rows
              and isinstance(br, int) and br >= 1 and isinstance(cdig, str)
              and isinstance(batch_rows, list) and all(isinstance(n, int) and n >= 0 for n in batch_rows)
              and sum(batch_rows) == rows and len(digests) == -(-rows // br) * _DIGEST)
    except (KeyError, TypeError, ValueError) as e:
        raise Damaged(f"decoded copy metadata: {e}") from None
    if not ok:
        raise Damaged("decoded copy metadata does not describe this shard")
    return batch_rows, br, cdig, digests


class Blocks:
    """The image blocks of a decoded copy, hashed on first use. Which
    blocks passed is kept in shared anonymous memory, so that DataLoader
    workers forked from this process (they map the same file) and this
    process learn what each other hashed: without it, the workers of every
    epoch would hash again what the last epoch's workers had."""

    def __init__(self, image: np.ndarray, block_rows: int, digests: bytes):
        self.image, self.block_rows, self.digests = image, block_rows, digests
        n = len(digests) // _DIGEST
        self.ok = np.frombuffer(mmap.mmap(-1, max(n, 1)), dtype=bool)[:n]

    def check(self, rows: np.ndarray) -> None:
        """Hashes the blocks holding rows (local row indices) that are not
        checked yet; Damaged where one differs from its recorded digest."""
        need = np.unique(np.asarray(rows, dtype=np.int64) // self.block_rows)
        need = need[~self.ok[need]]
        if not len(need):
            return
        br, dg = self.block_rows, self.digests
        for b in need.tolist():
            got = hashlib.sha256(self.image[b * br:(b + 1) * br]).digest()
            if got != dg[b * _DIGEST:(b + 1) * _DIGEST]:
                raise Damaged(f"image block {b} (rows {b * br}-{min((b + 1) * br, len(self.image))})")
            self.ok[b] = True


def remove(path: Optional[str]) -> None:
    if path is None:
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
