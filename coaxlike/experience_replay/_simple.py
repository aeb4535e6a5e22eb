"""SimpleReplayBuffer: uniform experience replay in preallocated host (numpy) arrays."""
import numpy as np

from ..reward_tracing import TransitionBatch
from ._storage import HostStorage

__all__ = ["SimpleReplayBuffer"]


class SimpleReplayBuffer:
    """A circular replay buffer that samples stored transitions uniformly, with replacement.

    Storage is one numpy array per :class:`~coaxlike.reward_tracing.TransitionBatch` leaf,
    shaped ``(capacity, *row_shape)`` and allocated on the first :meth:`add` from that batch's
    leaf shapes and dtypes; once full, the oldest rows are overwritten. :meth:`sample` draws
    ``batch_size`` indices uniformly from ``[0, len(buffer))`` and gathers every leaf at once.
    Sampled batches have ``W`` all ones and ``idx`` the ``(B,)`` int32 buffer indices.

    Randomness comes from a numpy ``Generator`` seeded with ``random_seed``: a host-side
    buffer needs no device RNG. For a buffer inside compiled code use
    :class:`PytreeReplayBuffer`.

    Args:
        capacity: the maximum number of transitions, an int >= 1.
        random_seed: seed for the sampler (``None``: fresh entropy).

    Raises:
        ValueError: if ``capacity`` is not an int >= 1.

    Examples:
        >>> import numpy as np
        >>> from coaxlike.reward_tracing import TransitionBatch
        >>> from coaxlike.experience_replay import SimpleReplayBuffer
        >>> buffer = SimpleReplayBuffer(capacity=100, random_seed=0)
        >>> buffer.add(TransitionBatch.from_one_step(
        ...     S=np.zeros((3, 4)), A=np.array([0, 1, 0]), Rn=np.ones(3), In=np.full(3, 0.9),
        ...     S_next=np.ones((3, 4))))
        >>> len(buffer), buffer.sample(batch_size=2).S.shape
        (3, (2, 4))
    """

    def __init__(self, capacity: int, random_seed: int | None = None):
        self._storage = HostStorage(capacity)
        self._rng = np.random.default_rng(random_seed)

    @property
    def capacity(self) -> int:
        """The maximum number of transitions held."""
        return self._storage.capacity

    def __len__(self) -> int:
        """The number of transitions held."""
        return self._storage.size

    def clear(self) -> None:
        """Remove all transitions."""
        self._storage.clear()

    def add(self, transition_batch: TransitionBatch) -> None:
        """Store the ``B >= 1`` rows of a batch (``W`` and ``idx`` are not stored).

        Raises:
            ValueError: if the batch's structure, row shapes or dtype kinds differ from the
                stored ones (the message names the field).
        """
        self._storage.add(transition_batch)

    def sample(self, batch_size: int) -> TransitionBatch:
        """Draw ``batch_size`` transitions uniformly at random, with replacement.

        Returns:
            TransitionBatch: numpy leaves with leading axis ``batch_size``; ``W`` ones,
            ``idx`` the buffer indices.

        Raises:
            ValueError: if the buffer is empty or ``batch_size`` exceeds ``len(buffer)``.
        """
        batch_size = self._storage.check_sample_size(batch_size)
        idx = self._rng.integers(0, self._storage.size, size=batch_size)
        return self._storage.gather(idx, np.ones(batch_size, np.float32))
