"""A PyTorch loader over a split that keeps shardsmith's promises.

    from shardsmith.torch import Loader
    loader = Loader(ds["train"], batch_size=128, seed=1, num_workers=2)
    for epoch in range(3):
        for batch in loader:        # one epoch: {"image": (B, H, W, C), "label", "source_index", "copy", "index"}
            ...
        state = loader.state_dict() # JSON-serializable; load_state_dict resumes mid-epoch

How the rows are dealt out:

* The epoch's global order is the Go trainer's (Split.order(seed, epoch)),
  or the manifest order with shuffle=False.
* Step s of the epoch takes the next batch_size × world_size rows of the
  global order; rank r gets rows [r·batch_size, (r+1)·batch_size) of them.
  The last step may be short: its rows are split into world_size contiguous
  runs as even as can be (a rank may get none); drop_last=True drops it.
* On one rank, the epoch's first batch is made by this process (so it does
  not wait for the workers to start; the DataLoader starts when the second
  is asked for), batch j >= 1 by DataLoader worker (j - 1) mod num_workers,
  and DataLoader yields its workers' batches round-robin, so the batches
  come in order whatever num_workers is.

* A worker gathers its batch's images into a buffer in shared memory (one
  of a few per worker) and hands the DataLoader only (batch, buffer): the
  label, source_index, copy and index tensors are slices of the epoch's
  columns, made in the main process. The image tensor uses the buffer in
  place until it is freed; a consumer that keeps more than HOLD batches of a
  worker gets copies (see _Slots). Without workers the same is done in the
  main process, without a DataLoader.

So reading the batches of step 0 of every rank, then step 1, … gives the
global order: it depends on the seed and the epoch only, not on the number
of workers or ranks. state_dict records the epoch and how many rows of the
global order the steps so far consumed (all ranks step together), so a
resumed loader — with any world size or batch size — yields exactly the rows
not yet seen, in the same order.
"""

from __future__ import annotations

import multiprocessing
import queue
import sys
import weakref
from typing import Dict, Iterator, Optional

import numpy as np
import torch
import torch.utils.data as tud

from ._order import DEFAULT_WINDOW
from .dataset import Gather, Split

STATE_VERSION = 1


def _rank_world(rank, world_size):
    if rank is None and world_size is None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1
    if rank is None or world_size is None:
        raise ValueError("give both rank and world_size, or neither")
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} of world_size {world_size} is not valid")
    return int(rank), int(world_size)


def _steps(start: int, n: int, per_step: int, drop_last: bool):
    """The global row ranges [lo, hi) of the steps from row start on."""
    lo = start
    while lo < n:
        hi = min(lo + per_step, n)
        if hi - lo < per_step and drop_last:
            return
        yield lo, hi
        lo = hi


def _rank_slice(lo: int, hi: int, per_rank: int, rank: int, world: int):
    if hi - lo == per_rank * world:
        a = lo + rank * per_rank
        return a, a + per_rank
    # a short last step: world_size contiguous runs as even as can be
    q, r = divmod(hi - lo, world)
    a = lo + rank * q + min(rank, r)
    return a, a + q + (1 if rank < r else 0)


# Batches a consumer may hold on to per worker before the next ones are
# copied out of the worker's buffers (see _Slots).
HOLD = 3
_TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.uint8): torch.uint8}


class _Slots:
    """Image buffers in shared memory that workers gather batches into, so
    that a DataLoader worker hands over (batch, slot) and not the tensors:
    moving a tensor between processes costs PyTorch a shared-memory file per
    tensor, more than gathering the batch itself.

    Worker w owns the slots [w·per, (w+1)·per) and takes free ones from its
    queue. The image tensor of a yielded batch uses its slot in place; the
    slot goes back to its worker when that tensor (and every view of it) is
    freed: torch.from_numpy keeps the numpy view alive, and a finalizer on
    the view releases the slot. A consumer that keeps more than HOLD batches
    of a worker gets copies, so a worker always has a free slot within the
    DataLoader's prefetch_factor."""

    def __init__(self, workers: int, per: int, batch: int, shape, dtype, ctx):
        self.per = per
        self.buf = torch.empty((max(workers, 1) * per, batch) + tuple(shape), dtype=_TORCH_DTYPE[np.dtype(dtype)])
        if workers:
            self.buf.share_memory_()
            self.free = [ctx.SimpleQueue() for _ in range(workers)]
        else:
            self.free = [queue.SimpleQueue()]
        for w, q in enumerate(self.free):
            for i in range(per):
                q.put(w * per + i)
        self.np = self.buf.numpy()
        self.held = [0] * len(self.free)
        self.released: list = []  # (worker, slot) of freed views, appended by finalizers

    def __getstate__(self):  # to spawned workers: the shared tensor and the queues, not copies of the memory
        return {"per": self.per, "buf": self.buf, "free": self.free}

    def __setstate__(self, s):
        self.per, self.buf, self.free = s["per"], s["buf"], s["free"]
        self.np = self.buf.numpy()

    def drain(self):
        while self.released:
            w, slot = self.released.pop()
            self.held[w] -= 1
            self.free[w].put(slot)

    def take(self, w: int, slot: int, n: int) -> torch.Tensor:
        """The image tensor of the batch in slot (of worker w), n rows."""
        view = self.np[slot, :n]
        if self.held[w] >= HOLD:
            t = torch.from_numpy(view.copy())
            self.free[w].put(slot)
            return t
        self.held[w] += 1
        weakref.finalize(view, self.released.append, (w, slot))
        return torch.from_numpy(view)

    def close(self, _finalizing=sys.is_finalizing):
        """Wakes workers waiting for a slot (they stop). Not at interpreter
        exit (an iterator abandoned until then): module globals are gone by
        then (hence the default argument), the queues can no longer pickle,
        and the DataLoader's daemonic workers are ended anyway."""
        if _finalizing():
            return
        for q in self.free:
            for _ in range(self.per):
                q.put(-1)


class _Epoch(tud.IterableDataset):
    """The batches of one rank in one epoch: global order ranges [a, b),
    the j-th made by DataLoader worker j mod num_workers, which gathers its
    images into a slot and yields (j, a, b, slot, source paths)."""

    def __init__(self, gather: Gather, ranges, slots: _Slots):
        super().__init__()
        self.gather, self.ranges, self.slots = gather, ranges, slots

    def __iter__(self):
        info = tud.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        g, free = self.gather, self.slots.free[wid]
        for j in range(wid, len(self.ranges), nw):
            a, b = self.ranges[j]
            slot = free.get()
            if slot < 0:
                return
            g.images(a, b, self.slots.np[slot, :b - a])
            yield j, a, b, slot, g.source_paths(a, b) if g._paths is not None else None


def _ranges(start: int, n: int, batch_size: int, drop_last: bool, rank: int, world: int):
    """The (a, b) global order ranges of a rank's batches from row start on,
    with the global row where each batch's step ends."""
    out = []
    for lo, hi in _steps(start, n, batch_size * world, drop_last):
        a, b = _rank_slice(lo, hi, batch_size, rank, world)
        out.append((a, b, hi))
    return out


class Loader:
    """Batches of a split for PyTorch, epoch after epoch (see the module
    documentation for the order and the guarantees).

    Each iteration is one epoch, from where the last one (or the loaded
    state) left off. Batches are dicts of tensors: image (B, H, W, C) as the
    split's pixels setting says (float32 normalized by default for float32
    shards; open with pixels="float32" to get floats from uint8 shards),
    label, source_index, copy and index (the row indices in the split), all
    int64, and for image tree and list sources source_path, a list of str. window is the trainer's --shuffle-window.

    Other keyword arguments go to torch's DataLoader (with workers:
    multiprocessing_context, prefetch_factor, timeout, worker_init_fn, …);
    pin_memory=True pins each batch in the main process (where CUDA is
    available)."""

    def __init__(self, split: Split, batch_size: int, shuffle: bool = True, seed: int = 1, drop_last: bool = False,
                 num_workers: int = 0, rank: Optional[int] = None, world_size: Optional[int] = None,
                 window: int = DEFAULT_WINDOW, **dataloader_kwargs):
        if not isinstance(split, Split):
            raise TypeError(f"Loader needs a shardsmith Split (ds['train']), not {type(split).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        for k in ("batch_size", "shuffle", "sampler", "batch_sampler", "collate_fn"):
            if k in dataloader_kwargs:
                raise TypeError(f"{k} is the Loader's to set")
        self.split, self.batch_size, self.shuffle, self.seed = split, batch_size, shuffle, seed
        self.drop_last, self.num_workers, self.window = drop_last, num_workers, window
        self.rank, self.world_size = _rank_world(rank, world_size)
        self.dataloader_kwargs = dataloader_kwargs
        self.epoch, self.seen = 0, 0
        self._order_cache = None

    def _order(self, epoch: int) -> np.ndarray:
        if self._order_cache is None or self._order_cache[0] != epoch:
            o = self.split.order(self.seed, epoch, window=self.window, shuffle=self.shuffle)
            self._order_cache = (epoch, o)
        return self._order_cache[1]

    def _epoch_done(self) -> bool:
        n, per = len(self.split), self.batch_size * self.world_size
        left = n - self.seen
        return left <= 0 or (self.drop_last and left < per)

    def __len__(self) -> int:
        """Batches this rank yields in the next iteration."""
        e = self.epoch + 1 if self._epoch_done() else self.epoch
        start = 0 if e != self.epoch else self.seen
        return sum(1 for a, b, _ in _ranges(start, len(self.split), self.batch_size, self.drop_last, self.rank,
                                           self.world_size) if b > a)

    def __iter__(self) -> Iterator[Dict[str, torch.Tensor]]:
        if self._epoch_done():
            self.epoch, self.seen = self.epoch + 1 if self.seen > 0 else self.epoch, 0
        # the shards are checked and decoded on a few threads while this one draws the epoch's order (which
        # needs no shard unless the shuffle window is emitted inside one, see Split.order); all of them before
        # the first batch, as it draws rows from every shard the window holds
        order = self.split._read_all(lambda: self._order(self.epoch))[1]
        steps = _ranges(self.seen, len(order), self.batch_size, self.drop_last, self.rank, self.world_size)
        mine = [(a, b) for a, b, _ in steps if b > a]
        g = self.split.gather(order)
        kw = dict(self.dataloader_kwargs)
        pin = kw.pop("pin_memory", False) and torch.cuda.is_available()
        ctx = kw.get("multiprocessing_context")
        ctx = multiprocessing.get_context(ctx) if ctx is None or isinstance(ctx, str) else ctx
        if self.num_workers:
            kw["multiprocessing_context"] = ctx
        prefetch = kw.get("prefetch_factor", 2) if self.num_workers else 1
        slots = _Slots(self.num_workers, prefetch + HOLD, self.batch_size, self.split.dataset.shape,
                       g.image_dtype, ctx)
        ints = torch.from_numpy(g.ints)
        # With workers, this process makes the epoch's first batch itself (the shards are decoded here already,
        # its slot is one of worker 0's) and starts the DataLoader, whose workers make the rest, only when the second is asked for: the first
        # batch does not wait for the workers' start. Without workers the DataLoader would only add its
        # per-batch bookkeeping.
        own = 1 if self.num_workers else 0
        ep = _Epoch(g, mine[own:], slots)
        it = None
        k = 0  # batches of this rank yielded
        try:
            for a, b, hi in steps:
                if b > a:
                    if k < own:  # in a slot of worker 0, before it starts
                        slot = slots.free[0].get()
                        g.images(a, b, slots.np[slot, :b - a])
                        img = slots.take(0, slot, b - a)
                        paths = g.source_paths(a, b) if g._paths is not None else None
                    else:
                        if it is None:
                            it = iter(tud.DataLoader(ep, batch_size=None, num_workers=self.num_workers, **kw)
                                      if self.num_workers else ep)
                        slots.drain()
                        j, a2, b2, slot, paths = next(it)
                        if (j + own, a2, b2) != (k, a, b):
                            raise RuntimeError(f"batch {j + own} (rows {a2}-{b2} of the epoch order) came when batch "
                                               f"{k} (rows {a}-{b}) was due (DataLoader worker sharding broken)")
                        img = slots.take(j % self.num_workers if self.num_workers else 0, slot, b - a)
                    batch = {"image": img, "label": ints[0, a:b],
                             "source_index": ints[1, a:b], "copy": ints[2, a:b], "index": ints[3, a:b]}
                    if paths is not None:  # source_path (image tree and list sources): torch has no string tensor
                        batch["source_path"] = paths
                    if pin:
                        batch = {k2: v.pin_memory() if isinstance(v, torch.Tensor) else v for k2, v in batch.items()}
                    k += 1
                    self.seen = hi  # counted before the consumer sees the batch: a state saved now excludes it
                    yield batch
                else:
                    self.seen = hi
        finally:
            slots.close()
            del it
        # the first epoch began from the shards' record batches as decoded (no copy before its first batch);
        # the next ones gather from one array per shard
        self.split.consolidate()
        self.epoch, self.seen = self.epoch + 1, 0

    def state_dict(self) -> dict:
        """Where the loader is: JSON-serializable. The rows of batches already
        yielded count as seen."""
        return {"version": STATE_VERSION, "dataset_version": self.split.dataset.version, "split": self.split.name,
                "rows": len(self.split), "seed": self.seed, "shuffle": self.shuffle, "window": self.window,
                "epoch": self.epoch, "seen": self.seen}

    def load_state_dict(self, state: dict) -> None:
        """Resumes where state_dict was taken: the next iteration yields the
        rest of that epoch, in the same global order. The world size, batch
        size and number of workers may differ; the data, seed, shuffle and
        window must not."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"loader state version {state.get('version')!r}, expected {STATE_VERSION}")
        for k, mine in (("dataset_version", self.split.dataset.version), ("split", self.split.name),
                        ("rows", len(self.split)), ("seed", self.seed), ("shuffle", self.shuffle),
                        ("window", self.window)):
            if state.get(k) != mine:
                raise ValueError(f"loader state has {k} {state.get(k)!r}, this loader {mine!r}")
        epoch, seen = state.get("epoch"), state.get("seen")
        if not isinstance(epoch, int) or epoch < 0 or not isinstance(seen, int) or not 0 <= seen <= len(self.split):
            raise ValueError(f"loader state epoch {epoch!r}, seen {seen!r} out of range")
        self.epoch, self.seen = epoch, seen
