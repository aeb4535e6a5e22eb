"""PrioritizedReplayBuffer: proportional prioritized replay over a numpy sum-tree."""
import numbers

import numpy as np

from ..reward_tracing import TransitionBatch
from ._storage import HostStorage
from ._sumtree import SumTree

__all__ = ["PrioritizedReplayBuffer"]


def _check_number(name, value, low, high=np.inf, low_open=False):
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real)
          and (low < value if low_open else low <= value) and value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high}{']' if high < np.inf else ')'}"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


class PrioritizedReplayBuffer:
    r"""Proportional prioritized experience replay (Schaul et al., 2016).

    Each stored transition :math:`i` has a priority :math:`p_i` kept in a :class:`SumTree`;
    sampling draws :math:`i` with probability :math:`P(i) = p_i / \sum_j p_j`. After a
    learner computes TD errors :math:`\delta_i`, :meth:`update` sets
    :math:`p_i = (|\delta_i| + \epsilon)^\alpha`. A new transition gets the largest priority
    assigned so far (1 initially), so it is sampled soon after it arrives.

    Sampled batches carry importance weights

    .. math::

        W_i = \frac{(N P(i))^{-\beta}}{\max_{j \in \text{batch}} (N P(j))^{-\beta}},

    where :math:`N = \text{len(buffer)}`: normalised **over the sampled batch**, so the
    largest weight in every batch is 1. ``beta`` may be set between calls (annealing).

    Indices returned in ``idx`` refer to buffer slots: after the slot is overwritten by a
    newer transition, an :meth:`update` with the old index sets the newer one's priority.

    Args:
        capacity: the maximum number of transitions, an int >= 1.
        alpha: priority exponent :math:`\alpha \ge 0` (0: uniform sampling).
        beta: importance-weight exponent :math:`\beta \in [0, 1]`.
        epsilon: :math:`\epsilon > 0`, keeps every priority positive.
        random_seed: seed for the sampler's numpy ``Generator``.

    Raises:
        ValueError: if an argument is out of range.

    Examples:
        >>> import numpy as np
        >>> from coaxlike.reward_tracing import TransitionBatch
        >>> from coaxlike.experience_replay import PrioritizedReplayBuffer
        >>> buffer = PrioritizedReplayBuffer(capacity=10, alpha=1.0, beta=1.0, random_seed=0)
        >>> buffer.add(TransitionBatch.from_one_step(
        ...     S=np.zeros((2, 4)), A=np.array([0, 1]), Rn=np.ones(2), In=np.ones(2),
        ...     S_next=np.ones((2, 4))))
        >>> buffer.update(np.array([0, 1]), np.array([-3.0, 1.0]))
        >>> buffer.priorities(np.array([0, 1])).round(4).tolist()
        [3.0001, 1.0001]
        >>> batch = buffer.sample(batch_size=2)
        >>> batch.idx.shape, float(batch.W.max())
        ((2,), 1.0)
    """

    def __init__(self, capacity: int, alpha: float = 0.6, beta: float = 0.4,
                 epsilon: float = 1e-4, random_seed: int | None = None):
        self._storage = HostStorage(capacity)
        self._tree = SumTree(capacity)
        self.alpha = _check_number("alpha", alpha, 0.0)
        self.beta = beta
        self.epsilon = _check_number("epsilon", epsilon, 0.0, low_open=True)
        self._rng = np.random.default_rng(random_seed)
        self._max_priority = 1.0

    @property
    def beta(self) -> float:
        r"""The importance-weight exponent :math:`\beta \in [0, 1]`; settable (validated)."""
        return self._beta

    @beta.setter
    def beta(self, value: float) -> None:
        self._beta = _check_number("beta", value, 0.0, 1.0)

    @property
    def capacity(self) -> int:
        """The maximum number of transitions held."""
        return self._storage.capacity

    def __len__(self) -> int:
        """The number of transitions held."""
        return self._storage.size

    def clear(self) -> None:
        """Remove all transitions and reset the maximum priority to 1."""
        self._storage.clear()
        self._tree.clear()
        self._max_priority = 1.0

    def add(self, transition_batch: TransitionBatch) -> None:
        """Store the ``B >= 1`` rows of a batch, each with the largest priority so far.

        Raises:
            ValueError: if the batch's structure, row shapes or dtype kinds differ from the
                stored ones (the message names the field).
        """
        idx = self._storage.add(transition_batch)
        self._tree.set(idx, np.full(idx.shape, self._max_priority))

    def sample(self, batch_size: int) -> TransitionBatch:
        """Draw ``batch_size`` transitions with probability proportional to priority.

        Returns:
            TransitionBatch: numpy leaves with leading axis ``batch_size``; ``W`` the
            importance weights (see the class docstring), ``idx`` the buffer indices.

        Raises:
            ValueError: if the buffer is empty or ``batch_size`` exceeds ``len(buffer)``.
        """
        batch_size = self._storage.check_sample_size(batch_size)
        total = self._tree.total
        idx = self._tree.find(self._rng.uniform(0.0, total, size=batch_size))
        prob = self._tree.get(idx) / total
        W = (len(self) * prob) ** -self._beta
        return self._storage.gather(idx, W / W.max())

    def update(self, idx, td_error) -> None:
        r"""Set the priorities of transitions ``idx`` to :math:`(|\delta| + \epsilon)^\alpha`.

        Args:
            idx: ``(B,)`` int buffer indices, as in a sampled batch's ``idx``.
            td_error: ``(B,)`` TD errors :math:`\delta` (signed; the magnitude is used).

        Raises:
            ValueError: if shapes differ, an index is not a stored slot, or a TD error is
                NaN or infinite.
        """
        idx, td_error = np.asarray(idx), np.asarray(td_error, np.float64)
        if idx.ndim != 1 or idx.shape != td_error.shape:
            raise ValueError(f"idx and td_error must have the same shape (B,), got {idx.shape} "
                             f"and {td_error.shape}")
        if not np.all(np.isfinite(td_error)):
            raise ValueError(f"td_error must be finite, got {td_error!r}")
        if idx.size and (not np.issubdtype(idx.dtype, np.integer)
                         or idx.min() < 0 or idx.max() >= len(self)):
            raise ValueError(f"idx must be integers in [0, len(buffer)={len(self)}), got {idx!r}")
        priority = (np.abs(td_error) + self.epsilon) ** self.alpha
        self._tree.set(idx, priority)
        if priority.size:
            self._max_priority = max(self._max_priority, float(priority.max()))

    def priorities(self, idx) -> np.ndarray:
        r"""The current priorities :math:`p_i` (after the exponent :math:`\alpha`) at ``idx``."""
        return self._tree.get(idx)
