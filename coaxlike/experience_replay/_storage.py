"""Row storage for TransitionBatch: a preallocated host store that keeps each frame once."""
import warnings

import jax
import numpy as np

from ..reward_tracing import TransitionBatch
from . import _checks
from .._checks import check_bool
from ._checks import check_fits, check_positive_int, check_rows, strip
from ._frame_pool import FramePool, plan_pools

__all__ = ["HostStorage", "warn_evicted"]

#: transition ids count modulo this (they fit int32); an id is recognised as stale while
#: fewer than 2**30 rows were written after it
ID_MODULUS = 2 ** 31

class HostStorage:
    """Preallocated numpy storage for TransitionBatch rows with circular overwrite.

    Arrays are allocated on the first :meth:`add`, shaped from that batch (``W`` and ``idx``
    are not stored). With ``lean=True``, every observation leaf whose row has at least
    ``FRAME_BYTES`` bytes is kept in a :class:`FramePool` shared by all leaves of its shape
    and dtype: a row of ``S``, ``S_next`` and each step of ``S_seq`` is then ``n + 3`` int32
    indices, and each distinct frame is stored once. Other leaves are stored densely.

    The valid rows are the ``size`` slots before ``position`` (in ring order). When a pool
    wraps onto frames still referenced, the oldest rows referencing them are evicted
    (``size`` shrinks); :meth:`add` returns them so that a prioritized buffer can zero their
    priorities.

    Args:
        capacity: the number of rows, an int >= 1.
        lean: keep large observation leaves in frame pools.
        frame_capacity: frames per pool; ``None``: ``capacity + capacity // 50 + 256``.
        example: a batch like those to come: allocate (and check memory) now, not on the
            first :meth:`add`.
        extra_row_bytes: bytes per row the owner allocates besides (counted in the check).
    """

    def __init__(self, capacity: int, lean: bool = True, frame_capacity: int | None = None,
                 example: TransitionBatch | None = None, extra_row_bytes: int = 0):
        self.capacity = check_positive_int("capacity", capacity)
        self.extra_row_bytes = extra_row_bytes  # what the owner allocates per row besides
        check_bool(lean, "lean")
        self.lean = lean
        if frame_capacity is None:
            frame_capacity = self.capacity + self.capacity // 50 + 256
        self.frame_capacity = check_positive_int("frame_capacity", frame_capacity)
        self.data = None        # the first stripped batch (structure reference for checks)
        self._treedef = None    # of the stripped batch
        self._dense = None      # flat leaf position -> (capacity, ...) array, for dense leaves
        self._pooled = None     # flat leaf position -> (pool number, obs position, leaf number)
        self._pool_leaves = []  # per pool: (flat position, obs position, leaf number)
        self._names = None      # field name and path of each flat leaf position
        self._pools = []        # FramePools
        self._frame_idx = []    # per pool: (capacity, n + 3, leaves) int32 slots
        self._ids = None        # (capacity,) int32: the transition id of each slot's row
        self._keys = None       # (capacity, pools) int64: eviction keys, see _write_frames
        self._accepted = None   # (treedef, shapes, dtypes) of the last batch that passed checks
        self._fits = ()         # flat positions whose integer values need a range check
        self._fits_dtypes = None  # the leaf dtypes _fits was computed for
        self._signature = None  # (treedef, row shapes and dtype kinds) of the stored rows
        self._a_leaf = 0        # flat position of the field A
        self.evicted_early = 0  # rows evicted because a frame pool wrapped
        self.added = 0          # rows written since construction (never reset): the next id
        self.clear()
        if example is None:  # the row size is not known yet: check the least it can be
            _checks.require_memory(self.capacity, self.capacity * (
                _checks.MIN_ROW_BYTES + extra_row_bytes), "at the very least")
        else:
            batch = strip(example)
            check_rows(batch, batch)
            leaves, treedef = jax.tree_util.tree_flatten(batch)
            self._allocate(batch, treedef, [np.asarray(x) for x in leaves])

    # --- state -------------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget all rows (the allocated arrays are kept)."""
        self.position = 0
        self.size = 0
        self.filled = 0  # slots [0, filled) have held a row since the last clear
        for pool in self._pools:
            pool.clear()

    # --- transition ids ----------------------------------------------------------------------

    def ids(self, slots: np.ndarray) -> np.ndarray:
        """The int32 transition ids of the rows in ``slots`` (what sampled batches carry).

        The ``k``-th row written since construction has id ``k mod 2**31``; rows are written
        in ring order, so the row in slot ``position - 1 - d`` is number ``added - 1 - d``
        (:meth:`slots` inverts this; ``add`` and :meth:`restore` keep a copy per slot).
        """
        return self._ids.take(slots)  # kept per slot by add: one take, ~1 us for 64 slots

    def slots(self, ids) -> tuple:
        """``(slots, current)`` for transition ids: where each id's row is, and whether it is
        still held (``False``: overwritten or dropped since it was sampled).

        Raises:
            TypeError: if the ids are not integers.
            ValueError: if an id is not in ``[0, 2**31)`` or was never handed out.
        """
        ids = np.asarray(ids)
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"idx must be transition ids (int32 values >= 0, as in a sampled "
                            f"batch's idx), got dtype {ids.dtype}: {ids!r}")
        if ids.size and (ids.min() < 0 or ids.max() >= ID_MODULUS):
            raise ValueError(f"idx must be transition ids (int32 values >= 0, as in a sampled "
                             f"batch's idx), got {ids!r}")
        age = (self.added - 1 - ids.astype(np.int64)) % ID_MODULUS  # 0: the newest row
        if ids.size and age.max() >= ID_MODULUS - ID_MODULUS // 2:
            raise ValueError(f"idx holds ids this buffer never handed out ({self.added} rows "
                             f"written so far), got {ids!r}")
        return (self.position - 1 - age) % self.capacity, age < self.size

    @property
    def start(self) -> int:
        """The slot of the oldest valid row (0 when full, so uniform draws need no shift)."""
        return 0 if self.size == self.capacity else (self.position - self.size) % self.capacity

    @property
    def nbytes(self) -> int:
        """Bytes of all preallocated arrays (0 before the first add)."""
        arrays = list((self._dense or {}).values()) + self._frame_idx
        arrays += [] if self._keys is None else [self._keys]
        arrays += [] if self._ids is None else [self._ids]
        return sum(x.nbytes for x in arrays) + sum(p.nbytes for p in self._pools)

    @property
    def dense_row_bytes(self) -> int:
        """Bytes of one row written densely (frames included), as :meth:`snapshot` returns
        it (0 before the first add)."""
        if self.data is None:
            return 0
        leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(self.data)]
        return sum(x.dtype.itemsize * int(np.prod(x.shape[1:])) for x in leaves)

    def valid(self, idx: np.ndarray) -> np.ndarray:
        """Whether each slot in ``idx`` holds a valid row."""
        return (idx - self.start) % self.capacity < self.size

    def snapshot(self) -> tuple:
        """Every slot's row and the ring counters, for checkpoints: ``(rows, counters)``.

        ``rows`` is a :class:`TransitionBatch` of ``capacity`` rows in slot order (slots that
        hold no valid row carry whatever was last written there); ``counters`` is int64
        ``[position, size, filled]``. Needs allocated storage (one ``add`` since
        construction); :meth:`restore` puts both back exactly.
        """
        if self._treedef is None:
            raise ValueError("cannot snapshot a buffer that has never been added to")
        slots = np.arange(self.capacity)
        rows = self.gather(slots, np.ones(self.capacity, np.float32))
        return rows, np.array([self.position, self.size, self.filled], np.int64)

    def restore(self, rows: TransitionBatch, counters) -> None:
        """Put back what :meth:`snapshot` returned: the same row in every slot, same counters.

        The rows are checked and written as one ``add`` (so a rejected snapshot leaves the
        storage as it was); frames are deduplicated afresh, so pool slots may differ while
        every gathered row is identical.
        """
        position, size, filled = (int(x) for x in np.asarray(counters))
        if not (0 <= size <= filled <= self.capacity and 0 <= position < self.capacity):
            raise ValueError(f"counters must be [position, size, filled] of a buffer of "
                             f"capacity {self.capacity}, got {list(np.asarray(counters))}")
        if int(np.shape(rows.A)[0]) != self.capacity:
            raise ValueError(f"rows must hold capacity={self.capacity} rows, got "
                             f"{np.shape(rows.A)[0]}")
        saved = (self.position, self.size, self.filled)
        self.position = self.size = self.filled = 0
        try:
            self.add(rows)
        except Exception:
            self.position, self.size, self.filled = saved
            raise
        # `added` grew by capacity: ids sampled before the restore are all stale; the row in
        # slot position - 1 - d gets id added - 1 - d, as after any add
        self.position, self.size, self.filled = position, size, filled
        age = (position - 1 - np.arange(self.capacity)) % self.capacity
        self._ids[:] = (self.added - 1 - age) % ID_MODULUS

    # --- add ---------------------------------------------------------------------------------

    def add(self, batch: TransitionBatch):
        """Write the ``B`` rows of ``batch``; return ``(written, evicted)`` int slot arrays.

        When ``B > capacity`` only the last ``capacity`` rows are kept. ``evicted`` lists
        valid rows dropped early because a frame pool wrapped (usually empty). Everything is
        checked before anything is written: a rejected batch leaves the storage unchanged.
        """
        batch = strip(batch)
        leaves, treedef = jax.tree_util.tree_flatten(batch)
        leaves = [x if isinstance(x, np.ndarray) else np.asarray(x) for x in leaves]
        size = np.shape(leaves[self._a_leaf])[0] if leaves[self._a_leaf].ndim else None
        key = (treedef, tuple(x.shape for x in leaves), tuple(x.dtype for x in leaves))
        if key != self._accepted:
            if self.data is None:
                size = check_rows(batch, batch)
                self._allocate(batch, treedef, leaves)  # raises MemoryError before any change
            elif (_signature(treedef, leaves) != self._signature
                  or any(x.shape[:1] != (size,) for x in leaves)):
                size = check_rows(self.data, batch)  # raises, naming the field
            if key[2] != self._fits_dtypes:  # integer leaves that need a range check
                self._fits = tuple(
                    j for j, (x, store) in enumerate(zip(leaves, self._stores()))
                    if x.dtype.kind in "iu" and not np.can_cast(x.dtype, store.dtype, "safe"))
                self._fits_dtypes = key[2]
            self._accepted = key
        for j in self._fits:
            check_fits(self._names[j], leaves[j], self._stores()[j].dtype)
        keep = min(size, self.capacity)
        if keep < size:
            leaves = [x[size - keep:] for x in leaves]
        start = self.position
        if start + keep <= self.capacity:  # contiguous: slice assignment, no index array
            where = slice(start, start + keep)
            idx = np.arange(start, start + keep)
        else:
            where = idx = (start + np.arange(keep)) % self.capacity
        for j, store in self._dense.items():
            store[where] = leaves[j]
        if self._pools:
            self._write_frames(leaves, where, idx)
        self.position = (start + keep) % self.capacity
        first, self.added = self.added, self.added + keep
        if self.added <= ID_MODULUS:
            self._ids[where] = np.arange(first, self.added, dtype=np.int32)
        else:
            self._ids[where] = np.arange(first, self.added) % ID_MODULUS
        self.size = min(self.size + keep, self.capacity)
        self.filled = max(self.filled, start + keep if start + keep <= self.capacity
                          else self.capacity)
        return idx, (self._evict() if self._pools else np.zeros(0, np.int64))

    def _stores(self):
        """Per flat leaf position: the array whose dtype the leaf is stored in."""
        return [self._dense[j] if j in self._dense else self._pools[self._pooled[j][0]].frames
                for j in range(len(self._dense) + len(self._pooled))]

    def _allocate(self, batch, treedef, leaves):
        """Lay out and allocate storage for rows like those of ``batch``."""
        offsets, pooled, pool_of, groups, n_seq = plan_pools(batch, self.lean)
        row_bytes = sum(int(np.prod(x.shape[1:])) * x.dtype.itemsize
                        for j, x in enumerate(leaves) if j not in pooled)
        frame_bytes = sum(int(np.prod(row)) * dtype.itemsize for row, dtype in pool_of)
        index_bytes = sum(4 * (n_seq + 2) * len(g) + 8 for g in groups) if groups else 0
        need = (self.capacity * (row_bytes + index_bytes + 4 + self.extra_row_bytes)
                + self.frame_capacity * frame_bytes)
        _checks.require_memory(self.capacity, need, "transitions like this batch")
        self._dense = {j: np.zeros((self.capacity, *x.shape[1:]), x.dtype)
                       for j, x in enumerate(leaves) if j not in pooled}
        self._pooled = pooled
        # per pool: (flat position, obs position, leaf), S_seq first (it holds most frames)
        self._pool_leaves = [sorted(((j, pos, leaf) for j, (q, pos, leaf) in pooled.items()
                                     if q == p), key=lambda t: -t[1])
                             for p in range(len(pool_of))]
        self._names = [path[0].name + jax.tree_util.keystr(path[1:])
                       for path, _ in jax.tree_util.tree_flatten_with_path(batch)[0]]
        self._pools = [FramePool(self.frame_capacity, row, dtype) for row, dtype in pool_of]
        self._frame_idx = [np.zeros((self.capacity, n_seq + 2, len(g)), np.int32)
                           for g in groups]
        self._keys = np.zeros((self.capacity, len(groups)), np.int64) if groups else None
        self._ids = np.zeros(self.capacity, np.int32)
        self._treedef = treedef
        self._signature = _signature(treedef, leaves)
        self._a_leaf = offsets["A"]
        self.data = batch

    def _write_frames(self, leaves, where, idx):
        """Insert the rows' frames into their pools and record their slots and keys.

        A row's key in pool ``p`` is at most the time of its oldest frame there, and keys
        never decrease in ring order (lowered backwards when a row references an older frame
        than its predecessors): so the rows to evict form a prefix, found by search.
        """
        rows = len(idx)
        for p, pool in enumerate(self._pools):
            slots = np.empty((rows, *self._frame_idx[p].shape[1:]), np.int64)
            shape, parts = pool.frames.shape[1:], self._pool_leaves[p]
            frames = np.concatenate([leaves[j].reshape(-1, *shape) for j, _, _ in parts])
            times = pool.insert(frames.astype(pool.frames.dtype, copy=False))
            at = 0
            for j, position, leaf in parts:
                if position < 2:
                    slots[:, position, leaf] = times[at:at + rows]
                    at += rows
                else:
                    slots[:, 2:, leaf] = times[at:at + slots[:, 2:].size // slots.shape[2]
                                               ].reshape(rows, -1)
                    at += slots[:, 2:].size // slots.shape[2]
            oldest = slots.reshape(rows, -1).min(axis=1)
            slots %= pool.capacity
            self._frame_idx[p][where] = slots
            keys = np.minimum.accumulate(oldest[::-1])[::-1]
            self._keys[where, p] = keys
            # lower the keys of older valid rows above this batch's smallest key
            first, older = keys[0], min(self.size, self.capacity - rows)
            slot = (idx[0] - 1) % self.capacity
            while older > 0 and self._keys[slot, p] > first:
                self._keys[slot, p] = first
                slot, older = (slot - 1) % self.capacity, older - 1

    def _evict(self) -> np.ndarray:
        """Drop the oldest rows whose frames a pool has overwritten; return their slots."""
        start, count = (self.position - self.size) % self.capacity, 0
        for p, pool in enumerate(self._pools):
            oldest_kept = pool.count - pool.capacity
            lo, hi = count, self.size  # keys are sorted in ring order: binary search
            while lo < hi:
                mid = (lo + hi) // 2
                if self._keys[(start + mid) % self.capacity, p] < oldest_kept:
                    lo = mid + 1
                else:
                    hi = mid
            count = lo
        if count == 0:
            return np.zeros(0, np.int64)
        self.size -= count
        self.evicted_early += count
        return (start + np.arange(count)) % self.capacity

    # --- sample ------------------------------------------------------------------------------

    def gather(self, idx: np.ndarray, W: np.ndarray) -> TransitionBatch:
        """The rows in slots ``idx`` (one vectorised gather per leaf), with weights ``W``
        attached and their transition ids (:meth:`ids`) in the ``idx`` field."""
        if not self._pools:  # all dense, in flat order: one comprehension
            rows = self._treedef.unflatten([x.take(idx, axis=0) for x in self._dense.values()])
            return rows._replace(W=np.asarray(W, np.float32), idx=self.ids(idx))
        leaves = [None] * (len(self._dense) + len(self._pooled))
        for j, store in self._dense.items():
            leaves[j] = store.take(idx, axis=0)  # cheaper than store[idx] for small batches
        for p, pool in enumerate(self._pools):
            slots = self._frame_idx[p].take(idx, axis=0)
            for j, (q, position, leaf) in self._pooled.items():
                if q == p:
                    where = slots[:, position, leaf] if position < 2 else slots[:, 2:, leaf]
                    leaves[j] = pool.frames.take(where, axis=0)
        rows = self._treedef.unflatten(leaves)
        return rows._replace(W=np.asarray(W, np.float32), idx=self.ids(idx))

    def check_sample_size(self, batch_size) -> int:
        """Validate ``batch_size`` against the number of stored rows."""
        batch_size = check_positive_int("batch_size", batch_size)
        if self.size == 0:
            raise ValueError("cannot sample from an empty buffer; add transitions first")
        if batch_size > self.size:
            raise ValueError(f"batch_size must be at most len(buffer)={self.size}, "
                             f"got {batch_size}")
        return batch_size


def _signature(treedef, leaves):
    return treedef, tuple((x.shape[1:], x.dtype.kind) for x in leaves)


def warn_evicted(storage: HostStorage) -> None:
    """Say that a frame ring wrapped onto frames still in use (buffers call this once)."""
    warnings.warn(
        f"the replay buffer's frame ring ({storage.frame_capacity} frames) wrapped onto "
        f"frames still in use, so the oldest transitions were dropped early and the buffer "
        f"holds fewer than capacity={storage.capacity}; pass a larger frame_capacity= (or "
        f"lean=False) if transitions share fewer frames than consecutive env steps do",
        RuntimeWarning, stacklevel=3)
