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

from typing import Callable, List, Sequence

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

    def uint64n_many(self, bounds: np.ndarray) -> np.ndarray:
        """[uint64n(n) for n in bounds] (each n in [1, 2**64)), computed on
        arrays: the states of the stream are drawn by jumping ahead (see
        _states), and only a draw that Lemire's method would reject (odds
        about n / 2**64) is redone one at a time, after which the arrays
        start again from the state it left."""
        bounds = np.asarray(bounds, dtype=np.uint64)
        out = np.empty(len(bounds), dtype=np.uint64)
        pos = 0
        while pos < len(bounds):
            n = bounds[pos:]
            hi, lo = _states(self.state, len(n))
            x = _output(hi, lo)
            pow2 = (n & (n - np.uint64(1))) == 0
            ph, pl = _mul64_small(x, n) if int(n.max()) < 1 << 32 else _mul64(x, n)
            bad = np.nonzero(~pow2 & (pl < n))[0]
            k = int(bad[0]) if len(bad) else len(n)  # draws before the first possible rejection are final
            out[pos:pos + k] = np.where(pow2[:k], x[:k] & (n[:k] - np.uint64(1)), ph[:k])
            if k:
                self.state = (int(hi[k - 1]) << 64) | int(lo[k - 1])
            if k < len(n):
                out[pos + k] = self.uint64n(int(n[k]))
                k += 1
            pos += k
        return out

    def shuffle(self, a: list) -> None:
        """Rand.Shuffle of the list a, in place (Fisher-Yates from the top:
        the bounds n, n-1, …, 2 are drawn first, in the same sequence)."""
        if len(a) < 2:
            return
        js = self.uint64n_many(np.arange(len(a), 1, -1, dtype=np.uint64)).tolist()
        for i, j in zip(range(len(a) - 1, 0, -1), js):
            a[i], a[j] = a[j], a[i]

    def shuffle_array(self, a: np.ndarray) -> None:
        """shuffle on a numpy array, in place: the same draws, and the
        permutation their swaps make computed on arrays (_shuffled_index)."""
        if len(a) < 2:
            return
        a[:] = a[_shuffled_index(self.uint64n_many(np.arange(len(a), 1, -1, dtype=np.uint64)).astype(np.int64))]

    def perm(self, n: int) -> List[int]:
        p = list(range(n))
        self.shuffle(p)
        return p


def _shuffled_index(js: np.ndarray) -> np.ndarray:
    """The permutation Fisher-Yates from the top makes of range(n), n =
    len(js) + 1, where step k swaps positions i = n-1-k and js[k]: computed
    on arrays, not swap by swap (a Python loop of n swaps costs more than
    drawing the js).

    Call x_i the value at position i when step i comes (what it moves to
    position j_i). A position p is only ever written by steps of higher i:
    steps with j = p (they put their x there) and step p itself. So x_i is
    the x of the last step before it with j = i (i's own, if none: x_i = i);
    and the final value at position i >= 1 is what position j_i held when step
    i came: the x of the last step before i with the same j, or j_i itself
    where no step wrote there (a self swap j_i = i gives x_i either way). The
    final value at position 0 is the x of the last step with j = 0, or 0.
    Grouping the steps by j (in step order) gives each step's predecessor in
    its group and each position's last writer; x follows by pointer jumping
    along "x_i = x of the last writer of i" to a step no one wrote before."""
    n = len(js) + 1
    out = np.arange(n, dtype=np.int64)
    if n < 2:
        return out
    J = np.asarray(js, dtype=np.int64)
    I = np.arange(n - 1, 0, -1, dtype=np.int64)  # the position of each step, in step order
    by = np.argsort(J * n + np.arange(n - 1))  # unique keys: by j, then step order
    Js, Is = J[by], I[by]
    same = np.zeros(n - 1, dtype=bool)
    same[1:] = Js[1:] == Js[:-1]
    prev = np.full(n, -1, dtype=np.int64)  # position i -> position of the previous step with j = j_i
    prev[Is[same]] = Is[np.flatnonzero(same) - 1]
    # position p -> the last step with j = p (when that is step p itself, x_p is never read: p is a root)
    t = np.flatnonzero(np.append(Js[:-1] != Js[1:], True))
    ptr = np.arange(n, dtype=np.int64)
    ptr[Js[t]] = Is[t]
    while True:  # x: follow the writers back to a step whose position no one wrote before
        nxt = ptr[ptr]
        if np.array_equal(nxt, ptr):
            break
        ptr = nxt
    p = prev[I]
    out[I] = np.where(p >= 0, ptr[np.maximum(p, 0)], J)
    out[0] = ptr[0]
    return out


_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


def _mul64(a: np.ndarray, b) -> tuple:
    """The 128-bit products of uint64 arrays (or an array and a scalar), as (hi, lo)."""
    a0, a1 = a & _M32, a >> _S32
    b = np.asarray(b, dtype=np.uint64)
    b0, b1 = b & _M32, b >> _S32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> _S32) + (p01 & _M32) + (p10 & _M32)
    return p11 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32), (p00 & _M32) | (mid << _S32)


def _mul64_small(a: np.ndarray, b: np.ndarray) -> tuple:
    """_mul64 where every b < 2**32 (an epoch's bounds): two products of
    32-bit halves, and their sum cannot overflow."""
    p0, p1 = (a & _M32) * b, (a >> _S32) * b
    mid = p1 + (p0 >> _S32)
    return mid >> _S32, (mid << _S32) | (p0 & _M32)


def _affine(hi, lo, a: int, c: int):
    """(a * s + c) mod 2**128 of the states s = (hi, lo), for Python ints a, c."""
    ah, al, ch, cl = (np.uint64(v) for v in (a >> 64, a & _M64, c >> 64, c & _M64))
    ph, pl = _mul64(lo, al)
    ph = ph + lo * ah + hi * al
    nl = pl + cl
    return ph + ch + (nl < pl).astype(np.uint64), nl


def _states(state: int, n: int):
    """The next n states of the LCG after state, as uint64 arrays (hi, lo):
    s[k] = A**(k+1) s + C (A**k + … + 1), filled by doubling: the block of
    the first L states, stepped L at a time, gives the next L."""
    hi = np.empty(n, dtype=np.uint64)
    lo = np.empty(n, dtype=np.uint64)
    s = (state * _MUL + _INC) & _M128
    hi[0], lo[0] = s >> 64, s & _M64
    a, c, have = _MUL, _INC, 1  # (a, c) step `have` states at once
    while have < n:
        m = min(have, n - have)
        hi[have:have + m], lo[have:have + m] = _affine(hi[:m], lo[:m], a, c)
        a, c, have = (a * a) & _M128, (a * c + c) & _M128, have + m
    return hi, lo


def _output(hi, lo):
    """The DXSM output function of PCG.uint64, on arrays."""
    hi = hi ^ (hi >> _S32)
    hi = hi * np.uint64(_CHEAP_MUL)
    hi = hi ^ (hi >> np.uint64(48))
    return hi * (lo | np.uint64(1))


def order(batch_rows: Sequence[Sequence[int]], shuffle: bool, seed: int, epoch: int,
          window: int = DEFAULT_WINDOW) -> np.ndarray:
    """The order of an epoch as global row indices (rows numbered through
    the shards in manifest order), given every shard's record batch sizes."""
    rows = [sum(b) for b in batch_rows]
    return order_of(rows, lambda i: batch_rows[i], shuffle, seed, epoch, window)


def order_of(shard_rows: Sequence[int], batches: Callable[[int], Sequence[int]], shuffle: bool, seed: int,
             epoch: int, window: int = DEFAULT_WINDOW) -> np.ndarray:
    """order() from each shard's row count, asking batches(i) for the record
    batch sizes of shard i only where they change the result: where the
    window, with all of the shard's rows added, would hold more than window
    rows, so that it is emitted after some batch before the shard's last.
    Elsewhere a shard's batches only add its rows to the window one after
    another, as one batch of all of them would. So with window >= the rows
    of the split (the default window and any split of up to 65,536 rows) no
    shard is asked, and the order needs no shard read."""
    if window <= 0:
        window = DEFAULT_WINDOW
    if seed < 0 or seed > _M64:
        raise ValueError(f"seed {seed} is not a uint64")
    if epoch < 0:
        raise ValueError(f"epoch {epoch} is negative")
    offsets, total = [], 0
    for n in shard_rows:
        offsets.append(total)
        total += n
    if not shuffle:
        return np.arange(total, dtype=np.int64)
    rng = PCG(seed, epoch + EPOCH_SALT)
    shards = list(range(len(shard_rows)))
    rng.shuffle(shards)
    out = np.empty(total, dtype=np.int64)
    pos, held = 0, 0
    runs: list = []  # the window: runs (first row, rows) of consecutive rows

    def flush():
        nonlocal pos, held, runs
        win = np.concatenate([np.arange(a, a + n, dtype=np.int64) for a, n in runs])
        rng.shuffle_array(win)
        out[pos:pos + len(win)] = win
        pos += len(win)
        held, runs = 0, []

    for si in shards:
        row, n = offsets[si], shard_rows[si]
        sizes = [n] if held + n <= window else batches(si)
        if sum(sizes) != n:
            raise ValueError(f"shard {si}: record batches of {sum(sizes)} rows, expected {n}")
        for b in sizes:
            if b:
                runs.append((row, b))
            row += b
            held += b
            if held >= window:
                flush()
    if held:
        flush()
    return out
