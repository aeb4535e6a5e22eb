"""FramePool: a preallocated ring of frames of one shape and dtype, each distinct frame stored once.

The idea is that of Dopamine's circular replay buffer and SB3's ``optimize_memory_usage``:
consecutive transitions share observations (``S_next`` of one step is ``S`` of the next, a
stack of ``k`` frames shares ``k - 1`` frames with the previous stack), so a buffer keeps each
frame once and every transition holds integer indices into the pool. Unlike those, nothing
here assumes how the frames relate: a frame is looked up among recently stored ones by a
fingerprint and reused only if its bytes are equal, so sharing is verified, never assumed.
"""
import jax
import numpy as np

from ..reward_tracing import TransitionBatch

__all__ = []  # private module

#: observation leaves whose row (one frame) has at least this many bytes go to a pool
FRAME_BYTES = 512
#: the observation fields, in the order of the "obs position" of :func:`plan_pools`
OBS_FIELDS = ("S", "S_next", "S_seq")


def plan_pools(batch: TransitionBatch, lean: bool = True, dtype_of=None):
    """Which flat leaves of a stripped batch go to frame pools (the layout of lean storage).

    An observation leaf is pooled when its row (one frame) has at least ``FRAME_BYTES``
    bytes and ``S``, ``S_next`` and ``S_seq`` agree on it (same structure, ``S_next`` rows
    shaped like ``S`` rows, ``S_seq`` rows ``(n + 1, *row)`` with one ``n`` for all leaves).
    Leaves of one row shape and dtype share a pool.

    Args:
        batch: a stripped TransitionBatch (``W``, ``idx`` ``None``).
        lean: ``False`` pools nothing.
        dtype_of: ``leaf -> dtype`` of the stored frames (default: the leaf's numpy dtype).

    Returns:
        ``(offsets, pooled, pool_of, groups, n_seq)``: the flat position of each field's
        first leaf; flat position -> ``(pool, obs position, leaf number in the pool)``;
        ``(row, dtype) -> pool``; per pool the observation leaf numbers; ``n + 1`` (or
        ``None`` when nothing is pooled).
    """
    dtype_of = dtype_of or (lambda x: np.asarray(x).dtype)
    offsets, pooled, pool_of, groups, n_seq = {}, {}, {}, [], None
    j = 0
    for name in TransitionBatch._fields:
        offsets[name] = j
        j += len(jax.tree_util.tree_leaves(getattr(batch, name)))
    obs = [jax.tree_util.tree_flatten(getattr(batch, f)) for f in OBS_FIELDS]
    if not lean or not obs[0][1] == obs[1][1] == obs[2][1]:
        return offsets, pooled, pool_of, groups, n_seq
    for leaf, (s, s_next, s_seq) in enumerate(zip(*(o[0] for o in obs))):
        row, dtype = np.shape(s)[1:], np.dtype(dtype_of(s))
        if (dtype.itemsize * int(np.prod(row)) < FRAME_BYTES
                or np.shape(s_next)[1:] != row or np.shape(s_seq)[2:] != row
                or np.ndim(s_seq) != len(row) + 2
                or n_seq not in (None, np.shape(s_seq)[1])):
            continue
        n_seq = np.shape(s_seq)[1]
        p = pool_of.setdefault((row, dtype), len(pool_of))
        if p == len(groups):
            groups.append([])
        for position, field in enumerate(OBS_FIELDS):
            pooled[offsets[field] + leaf] = (p, position, len(groups[p]))
        groups[p].append(leaf)
    return offsets, pooled, pool_of, groups, n_seq


class FramePool:
    """A ring of ``capacity`` frames shaped ``shape`` with dtype ``dtype``.

    Frames are written in order; frame number ``t`` (its *time*, counted from 0 since the
    last :meth:`clear`) lives in slot ``t % capacity`` until frame ``t + capacity`` overwrites
    it. :meth:`insert` returns, for each given frame, the time of an equal stored frame: a
    frame equal (byte for byte) to one written at most ``window`` frames ago is not written
    again.

    Args:
        capacity: the number of frame slots.
        shape: the shape of one frame.
        dtype: the dtype frames are stored in.
        window: how far back (in frames) equal frames are looked for.
    """

    def __init__(self, capacity: int, shape: tuple, dtype, window: int = 8192):
        self.capacity = int(capacity)
        self.frames = np.zeros((self.capacity, *shape), dtype)
        self.window = min(int(window), self.capacity)
        nbytes = self.frames[0].nbytes
        # fingerprint: a weighted sum of the frame's words (wrapping uint64 arithmetic)
        self._word = next(np.dtype(f"uint{8 * w}") for w in (8, 4, 2, 1) if nbytes % w == 0)
        rng = np.random.default_rng(0x5EED)
        words = nbytes // self._word.itemsize
        self._weights = rng.integers(1, 2 ** 63, size=words, dtype=np.uint64) | np.uint64(1)
        self._recent = np.zeros(self.window, np.uint64)  # fingerprints of the last frames
        self.clear()

    @property
    def nbytes(self) -> int:
        """Bytes held by the preallocated arrays."""
        return self.frames.nbytes + self._recent.nbytes + self._weights.nbytes

    def clear(self) -> None:
        """Forget every frame (the arrays are kept)."""
        self.count = 0      # the time of the next frame written
        self._lookup = {}   # fingerprint -> time of the newest frame with it (last `window`)

    def fingerprints(self, frames: np.ndarray) -> np.ndarray:
        """``(m,)`` uint64 fingerprints of ``frames`` shaped ``(m, *shape)``."""
        words = np.ascontiguousarray(frames).reshape(len(frames), -1).view(self._word)
        return (words.astype(np.uint64, copy=False) * self._weights).sum(axis=1, dtype=np.uint64)

    def insert(self, frames: np.ndarray) -> np.ndarray:
        """Store ``frames`` ``(m, *shape)`` (already in the pool's dtype); return ``(m,)`` times.

        The slot of a returned time ``t`` is ``t % capacity``; it holds the frame until
        ``count`` exceeds ``t + capacity``.
        """
        frames = np.ascontiguousarray(frames)
        fingerprints = self.fingerprints(frames).tolist()
        times = np.empty(len(frames), np.int64)
        lookup, store, recent = self._lookup, self.frames, self._recent
        capacity, window = self.capacity, self.window
        for i, fp in enumerate(fingerprints):
            frame = frames[i]
            t = lookup.get(fp)
            if t is not None and t >= self.count - window and (
                    store[t % capacity].tobytes() == frame.tobytes()):
                times[i] = t
                continue
            t = self.count
            old = t - window  # this fingerprint leaves the window: forget it
            if old >= 0:
                old_fp = int(recent[old % window])
                if lookup.get(old_fp) == old:
                    del lookup[old_fp]
            store[t % capacity] = frame
            recent[t % window] = fp
            lookup[fp] = t
            times[i] = t
            self.count = t + 1
        return times
