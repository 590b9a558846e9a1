"""The row order of a training epoch, bit for bit as the Go trainer draws it.

The algorithm (trainer/data/order.go is the reference, and
trainer/data/testdata/order.json holds vectors both implementations check):

1. rng = Go's math/rand/v2 PCG (a 128-bit LCG with the DXSM output function)
   seeded (seed, epoch + 0x9e3779b97f4a7c15).
2. The split's shards, in manifest order, are permuted by rng.Shuffle.
3. Rows are taken shard by shard in that order, one record batch (Arrow IPC
   record batch or Parquet row group) at a time, into a window; whenever the
   window holds >= window rows after a batch, and once more at the end, the
   window is permuted by rng.Shuffle and emitted.

rng.Shuffle is Fisher-Yates from the top: for i = n-1 down to 1, swap i with
j = uint64n(i+1), Lemire's multiply-and-reject bounded integer.
"""

from __future__ import annotations

from typing import List, Sequence

import numpy as np

_M64 = (1 << 64) - 1
_M128 = (1 << 128) - 1
_MUL = (2549297995355413924 << 64) | 4865540595714422341
_INC = (6364136223846793005 << 64) | 1442695040888963407
_CHEAP_MUL = 0xDA942042E4DD58B5
EPOCH_SALT = 0x9E3779B97F4A7C15
DEFAULT_WINDOW = 1 << 16


class PCG:
    """math/rand/v2's PCG source and the Rand methods the order uses."""

    __slots__ = ("state",)

    def __init__(self, seed1: int, seed2: int):
        self.state = ((seed1 & _M64) << 64) | (seed2 & _M64)

    def uint64(self) -> int:
        s = (self.state * _MUL + _INC) & _M128
        self.state = s
        hi, lo = s >> 64, s & _M64
        hi ^= hi >> 32
        hi = (hi * _CHEAP_MUL) & _M64
        hi ^= hi >> 48
        return (hi * (lo | 1)) & _M64

    def uint64n(self, n: int) -> int:
        """Rand.Uint64N on a 64-bit machine: uniform in [0, n)."""
        if n <= 0:
            raise ValueError("uint64n needs n > 0")
        if n & (n - 1) == 0:
            return self.uint64() & (n - 1)
        p = self.uint64() * n
        lo = p & _M64
        if lo < n:
            thresh = ((1 << 64) - n) % n
            while lo < thresh:
                p = self.uint64() * n
                lo = p & _M64
        return p >> 64

    def shuffle(self, a: list) -> None:
        """Rand.Shuffle of the list a, in place."""
        for i in range(len(a) - 1, 0, -1):
            j = self.uint64n(i + 1)
            a[i], a[j] = a[j], a[i]

    def perm(self, n: int) -> List[int]:
        p = list(range(n))
        self.shuffle(p)
        return p


def order(batch_rows: Sequence[Sequence[int]], shuffle: bool, seed: int, epoch: int,
          window: int = DEFAULT_WINDOW) -> np.ndarray:
    """The order of an epoch as global row indices (rows numbered through
    the shards in manifest order), given every shard's record batch sizes."""
    if window <= 0:
        window = DEFAULT_WINDOW
    if seed < 0 or seed > _M64:
        raise ValueError(f"seed {seed} is not a uint64")
    if epoch < 0:
        raise ValueError(f"epoch {epoch} is negative")
    offsets, total = [], 0
    for b in batch_rows:
        offsets.append(total)
        total += sum(b)
    if not shuffle:
        return np.arange(total, dtype=np.int64)
    rng = PCG(seed, epoch + EPOCH_SALT)
    shards = list(range(len(batch_rows)))
    rng.shuffle(shards)
    out = np.empty(total, dtype=np.int64)
    pos = 0
    win: list = []

    def flush():
        nonlocal pos, win
        rng.shuffle(win)
        out[pos:pos + len(win)] = win
        pos += len(win)
        win = []

    for si in shards:
        row = offsets[si]
        for n in batch_rows[si]:
            win.extend(range(row, row + n))
            row += n
            if len(win) >= window:
                flush()
    if win:
        flush()
    return out
