"""PytreeReplayBuffer: a uniform replay buffer whose state is a pytree of JAX arrays."""
import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..reward_tracing import TransitionBatch
from ..typing import Array, PRNGKey
from ._checks import check_positive_int, check_rows, strip

__all__ = ["BufferState", "PytreeReplayBuffer"]


class BufferState(NamedTuple):
    """The state of a :class:`PytreeReplayBuffer` (a pytree of JAX arrays).

    Attributes:
        storage: a :class:`~coaxlike.reward_tracing.TransitionBatch` whose leaves have
            leading axis ``capacity`` (``W`` and ``idx`` are ``None``: set on sampling).
        position: int32 scalar, the slot the next row is written to.
        size: int32 scalar, the number of filled slots (at most ``capacity``).
    """

    storage: TransitionBatch
    position: Array
    size: Array


@dataclasses.dataclass(frozen=True)
class PytreeReplayBuffer:
    """A uniform circular replay buffer for fully compiled training loops.

    The buffer object holds only the static ``capacity``; the data lives in a
    :class:`BufferState` that :meth:`init`, :meth:`add` and :meth:`sample` take and return.
    All three are pure, so they work inside ``jax.jit``, ``jax.lax.scan`` and ``jax.vmap``
    (e.g. over a batch of independent buffer states). The number of rows added at once and
    ``batch_size`` are static (shapes); the buffer object is hashable and may be closed over
    or passed as a static argument.

    Unlike the host-side buffers, nothing here can raise on a traced value: sampling an
    empty state returns zero-filled rows (check ``state.size`` on the host if that matters).
    Stored dtypes are JAX's canonical ones (int64/float64 become int32/float32 unless
    ``jax_enable_x64`` is on).

    Args:
        capacity: the maximum number of transitions, an int >= 1.

    Raises:
        ValueError: if ``capacity`` is not an int >= 1.

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

    def __post_init__(self):
        check_positive_int("capacity", self.capacity)

    def init(self, example_transition: TransitionBatch) -> BufferState:
        """An empty state shaped for rows like those of ``example_transition``.

        Args:
            example_transition: a TransitionBatch with any leading batch size; only each
                leaf's ``shape[1:]`` and dtype are used.

        Returns:
            BufferState: zero-filled storage with leaves ``(capacity, *row_shape)``,
            ``position = size = 0``.
        """
        def zeros(x):
            return jnp.zeros((self.capacity, *x.shape[1:]),
                             jax.dtypes.canonicalize_dtype(x.dtype))

        storage = jax.tree_util.tree_map(zeros, strip(example_transition))
        return BufferState(storage, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

    @staticmethod
    def add(state: BufferState, transition_batch: TransitionBatch) -> BufferState:
        """Write the ``B`` rows of a batch at ``position, position + 1, ...`` (mod capacity).

        When ``B > capacity`` only the last ``capacity`` rows are kept.

        Args:
            state: the buffer state.
            transition_batch: rows to add, leaves ``(B, *row_shape)`` matching the storage.

        Returns:
            BufferState: the new state.

        Raises:
            ValueError: at trace time, if structure or row shapes differ from the storage.
        """
        batch = strip(transition_batch)
        num_rows = check_rows(state.storage, batch)
        capacity = state.storage.A.shape[0]
        keep = min(num_rows, capacity)
        idx = (state.position + jnp.arange(keep, dtype=jnp.int32)) % capacity

        def write(store, x):
            return store.at[idx].set(jnp.asarray(x)[num_rows - keep:].astype(store.dtype))

        storage = jax.tree_util.tree_map(write, state.storage, batch)
        return BufferState(storage, (state.position + keep) % capacity,
                           jnp.minimum(state.size + keep, capacity))

    @staticmethod
    def sample(state: BufferState, key: PRNGKey, batch_size: int) -> TransitionBatch:
        """Draw ``batch_size`` stored rows uniformly (with replacement) from the filled part.

        Args:
            state: the buffer state.
            key: a JAX PRNG key.
            batch_size: the number of rows, a static int >= 1.

        Returns:
            TransitionBatch: leaves ``(batch_size, *row_shape)``, ``W`` float32 ones and
            ``idx`` the int32 slots drawn.
        """
        batch_size = check_positive_int("batch_size", batch_size)
        idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(state.size, 1),
                                 dtype=jnp.int32)
        rows = jax.tree_util.tree_map(lambda x: x[idx], state.storage)
        return rows._replace(W=jnp.ones((batch_size,), jnp.float32), idx=idx)
