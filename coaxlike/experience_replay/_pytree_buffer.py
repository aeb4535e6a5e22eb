"""PytreeReplayBuffer: a uniform replay buffer whose state is a pytree of JAX arrays."""
import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_bool
from ..reward_tracing import TransitionBatch
from ..typing import Array, PRNGKey
from ._checks import check_positive_int, check_rows, require_memory, strip
from ._frame_pool import plan_pools
from ._pytree_frames import FrameIndex, FramePools, gather, insert, is_index, valid_size

__all__ = ["BufferState", "PytreeReplayBuffer"]


class BufferState(NamedTuple):
    """The state of a :class:`PytreeReplayBuffer` (a pytree of JAX arrays).

    Attributes:
        storage: a :class:`~coaxlike.reward_tracing.TransitionBatch` whose leaves have
            leading axis ``capacity`` (``W`` and ``idx`` are ``None``: set on sampling).
        position: int32 scalar, the slot the next row is written to.
        size: int32 scalar, the number of valid rows (at most ``capacity``): the ``size``
            slots before ``position``, in ring order.
        frames: the frame rings of a lean buffer (``None`` when every leaf is stored
            densely).
    """

    storage: TransitionBatch
    position: Array
    size: Array
    frames: FramePools | None = None


@dataclasses.dataclass(frozen=True)
class PytreeReplayBuffer:
    """A uniform circular replay buffer for fully compiled training loops.

    The buffer object holds only static settings (``capacity``, ...); the data lives in a
    :class:`BufferState` that :meth:`init`, :meth:`add` and :meth:`sample` take and return.
    All three are pure, so they work inside ``jax.jit``, ``jax.lax.scan`` and ``jax.vmap``
    (e.g. over a batch of independent buffer states). The number of rows added at once and
    ``batch_size`` are static (shapes); the buffer object is hashable and may be closed over
    or passed as a static argument.

    Unlike the host-side buffers, nothing here can raise on a traced value: sampling an
    empty state returns zero-filled rows (check ``state.size`` on the host if that matters).
    Stored dtypes are JAX's canonical ones (int64/float64 become int32/float32 unless
    ``jax_enable_x64`` is on).

    **Frames are stored once** (``lean=True``), as in :class:`SimpleReplayBuffer`: every
    observation leaf of at least 512 bytes per row (an image, one frame of a
    :class:`~coaxlike.wrappers.FrameStacking` tuple) lives in a ring of ``frame_capacity``
    frames per frame shape and dtype (:attr:`BufferState.frames`), and the storage keeps
    the int32 *time* of each frame instead (``S``, ``S_next``: ``(capacity,)``; ``S_seq``:
    ``(capacity, n + 1)``). :meth:`add` inserts the frames in order, reusing an equal frame
    among the last ``window`` of its ring (found by a fingerprint of its bytes, confirmed
    byte for byte), so consecutive transitions and overlapping stacks share storage, and
    :meth:`sample` gathers them back: every sampled batch equals, field by field, what dense
    storage (``lean=False``) returns for the same data and key. When a ring wraps onto a frame
    still in use, the oldest rows are dropped and ``state.size`` falls below ``capacity``
    (only when transitions share fewer frames than a stream of env steps does: raise
    ``frame_capacity``). Each :meth:`add` then costs ``O(capacity)`` for that check, and each
    inserted frame ``O(window)``. Small observations (CartPole's) are stored densely, as
    before.

    Args:
        capacity: the maximum number of transitions, an int >= 1.
        lean: store each observation frame once (see above); ``False``: densely.
        frame_capacity: frames per ring, an int >= 1; ``None``: ``capacity + capacity // 50
            + 256``.
        window: how many of the newest frames an inserted frame is compared with, int >= 1.

    Raises:
        TypeError: if an argument has the wrong type (``capacity`` not an int, ``lean`` not
            a bool).
        ValueError: if an argument is out of range.

    Examples:
        >>> import jax, numpy as np
        >>> from coaxlike.reward_tracing import TransitionBatch
        >>> from coaxlike.experience_replay import PytreeReplayBuffer
        >>> batch = TransitionBatch.from_one_step(
        ...     S=np.zeros((2, 4), np.float32), A=np.array([0, 1]), Rn=np.ones(2),
        ...     In=np.full(2, 0.5), S_next=np.ones((2, 4), np.float32))
        >>> buffer = PytreeReplayBuffer(capacity=8)
        >>> state = buffer.init(batch)
        >>> state = jax.jit(buffer.add)(state, batch)
        >>> sample = jax.jit(buffer.sample, static_argnums=2)(state, jax.random.key(0), 3)
        >>> int(state.size), sample.S.shape, sample.idx.dtype
        (2, (3, 4), dtype('int32'))
    """

    capacity: int
    lean: bool = True
    frame_capacity: int | None = None
    window: int = 256

    def __post_init__(self):
        check_positive_int("capacity", self.capacity)
        check_bool(self.lean, "lean")
        if self.frame_capacity is not None:
            check_positive_int("frame_capacity", self.frame_capacity)
        check_positive_int("window", self.window)

    def init(self, example_transition: TransitionBatch) -> BufferState:
        """An empty state shaped for rows like those of ``example_transition``.

        Args:
            example_transition: a TransitionBatch with any leading batch size; only each
                leaf's ``shape[1:]`` and dtype are used.

        Returns:
            BufferState: zero-filled storage with leaves ``(capacity, *row_shape)`` (pooled
            observation leaves: their frame times, see the class docstring),
            ``position = size = 0``.

        Raises:
            MemoryError: on the CPU backend, if the state's arrays would not fit in the
                available memory (checked before anything is allocated).
        """
        batch = strip(example_transition)
        _, pooled, pool_of, _, n_seq = plan_pools(batch, self.lean, _canonical_dtype)
        leaves, treedef = jax.tree_util.tree_flatten(batch)
        self._check_memory(leaves, pooled, pool_of, n_seq)
        stored = []
        for j, x in enumerate(leaves):
            if j in pooled:
                pool, position, _ = pooled[j]
                lead = (n_seq,) if position == 2 else ()
                row = next(r for (r, _), q in pool_of.items() if q == pool)
                stored.append(FrameIndex(jnp.zeros((self.capacity, *lead), jnp.int32), pool,
                                         row, _canonical_dtype(x).name))
            else:
                stored.append(jnp.zeros((self.capacity, *np.shape(x)[1:]), _canonical_dtype(x)))
        frames = None
        if pool_of:
            size = self._frame_capacity()
            frames = FramePools(
                frames=tuple(jnp.zeros((size, *row), dtype) for row, dtype in pool_of),
                fingerprints=tuple(jnp.zeros((size,), jnp.uint32) for _ in pool_of),
                count=tuple(jnp.zeros((), jnp.int32) for _ in pool_of),
                keys=jnp.zeros((self.capacity, len(pool_of)), jnp.int32))
        zero = jnp.zeros((), jnp.int32)
        return BufferState(treedef.unflatten(stored), zero, zero, frames)

    def _frame_capacity(self) -> int:
        return (self.capacity + self.capacity // 50 + 256 if self.frame_capacity is None
                else self.frame_capacity)

    def _check_memory(self, leaves, pooled, pool_of, n_seq):
        """``MemoryError`` before anything is allocated, if the state would not fit (on the
        CPU backend, against the host's available memory)."""
        if jax.default_backend() != "cpu":
            return  # device memory: XLA reports it when it allocates
        row = sum(_canonical_dtype(x).itemsize * int(np.prod(np.shape(x)[1:]))
                  for j, x in enumerate(leaves) if j not in pooled)
        row += sum(4 * (n_seq if position == 2 else 1) for _, position, _ in pooled.values())
        row += 4 * len(pool_of)  # eviction keys
        frames = sum(dtype.itemsize * int(np.prod(shape)) + 4 for shape, dtype in pool_of)
        require_memory(self.capacity, self.capacity * row + self._frame_capacity() * frames,
                       "the in-graph buffer's arrays")

    def add(self, state: BufferState, transition_batch: TransitionBatch) -> BufferState:
        """Write the ``B`` rows of a batch at ``position, position + 1, ...`` (mod capacity).

        When ``B > capacity`` only the last ``capacity`` rows are kept. Pooled frames are
        inserted into their rings (reused when an equal frame is among the last ``window``).

        Args:
            state: the buffer state.
            transition_batch: rows to add, leaves ``(B, *row_shape)`` matching the storage.

        Returns:
            BufferState: the new state.

        Raises:
            ValueError: at trace time, if structure or row shapes differ from the storage.
        """
        batch = strip(transition_batch)
        reference = jax.tree_util.tree_map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype) if is_index(x) else x,
            state.storage, is_leaf=is_index)
        num_rows = check_rows(reference, batch)
        capacity = state.storage.A.shape[0]
        keep = min(num_rows, capacity)
        idx = (state.position + jnp.arange(keep, dtype=jnp.int32)) % capacity
        stored, treedef = jax.tree_util.tree_flatten(state.storage, is_leaf=is_index)
        rows = [jnp.asarray(x)[num_rows - keep:] for x in jax.tree_util.tree_leaves(batch)]
        out = [None if is_index(store) else store.at[idx].set(x.astype(store.dtype))
               for store, x in zip(stored, rows)]
        frames = state.frames
        position = (state.position + keep) % capacity
        size = jnp.minimum(state.size + keep, capacity)
        if frames is not None:
            pools = [list(f) for f in frames[:3]]
            keys = frames.keys
            for p in range(len(pools[0])):
                # S_seq first: it holds most of the frames, in time order
                parts = sorted((j for j, x in enumerate(stored) if is_index(x) and x.pool == p),
                               key=lambda j: -stored[j].times.ndim)
                ring = pools[0][p]
                new = jnp.concatenate([rows[j].reshape(-1, *ring.shape[1:]).astype(ring.dtype)
                                       for j in parts])
                pools[0][p], pools[1][p], pools[2][p], times = insert(
                    ring, pools[1][p], pools[2][p], new, min(self.window, ring.shape[0]))
                at, oldest = 0, None
                for j in parts:
                    store = stored[j]
                    count = keep * int(np.prod(store.times.shape[1:], dtype=int))
                    seg = times[at:at + count].reshape(keep, *store.times.shape[1:])
                    at += count
                    out[j] = FrameIndex(store.times.at[idx].set(seg), store.pool,
                                        store.frame_shape, store.dtype)
                    low = seg.reshape(keep, -1).min(axis=1)
                    oldest = low if oldest is None else jnp.minimum(oldest, low)
                keys = keys.at[idx, p].set(oldest)
            frames = FramePools(tuple(pools[0]), tuple(pools[1]), tuple(pools[2]), keys)
            size = valid_size(keys, frames.count, pools[0][0].shape[0], position, size)
        return BufferState(treedef.unflatten(out), position, size, frames)

    @staticmethod
    def sample(state: BufferState, key: PRNGKey, batch_size: int) -> TransitionBatch:
        """Draw ``batch_size`` stored rows uniformly (with replacement) from the filled part.

        Args:
            state: the buffer state.
            key: a JAX PRNG key.
            batch_size: the number of rows, a static int >= 1.

        Returns:
            TransitionBatch: leaves ``(batch_size, *row_shape)`` (pooled frames gathered
            back), ``W`` float32 ones and ``idx`` the int32 slots drawn.
        """
        batch_size = check_positive_int("batch_size", batch_size)
        capacity = state.storage.A.shape[0]
        start = jnp.where(state.size == capacity, 0, (state.position - state.size) % capacity)
        draw = jax.random.randint(key, (batch_size,), 0, jnp.maximum(state.size, 1),
                                  dtype=jnp.int32)
        idx = (start + draw) % capacity

        def rows(x):
            if is_index(x):
                return gather(state.frames.frames[x.pool], x.times[idx])
            return x[idx]

        rows = jax.tree_util.tree_map(rows, state.storage, is_leaf=is_index)
        return rows._replace(W=jnp.ones((batch_size,), jnp.float32), idx=idx)


def _canonical_dtype(x) -> np.dtype:
    return jax.dtypes.canonicalize_dtype(x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype)
