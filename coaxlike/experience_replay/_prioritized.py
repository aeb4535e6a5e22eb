"""PrioritizedReplayBuffer: proportional prioritized replay over a numpy sum-tree."""
import math
import numbers
import threading

import numpy as np

from .._checks import check_seed
from ..reward_tracing import TransitionBatch
from ._checks import check_positive_int
from ._storage import HostStorage, warn_evicted
from ._sumtree import SumTree

__all__ = ["PrioritizedReplayBuffer"]

#: priorities are clamped to this range, so sums and importance weights stay finite
PRIORITY_RANGE = (1e-100, 1e100)


def _check_number(name, value, low, high=math.inf, low_open=False) -> float:
    """``value`` as a float, if it is a finite real number (or 0-d array) in the interval:
    ``TypeError`` for anything else than a real number (coax's error type for
    ``buffer.alpha = 'foo'``), ``ValueError`` for a number outside the interval."""
    interval = f"{'(' if low_open else '['}{low}, {high}{']' if high < math.inf else ')'}"
    real = (isinstance(value, numbers.Real) or (
        np.shape(value) == () and getattr(getattr(value, "dtype", None), "kind", "") in "fiu"
        and hasattr(value, "dtype")))
    if isinstance(value, (bool, np.bool_)) or not real:
        raise TypeError(f"{name} must be a number in {interval}, got {value!r}")
    x = float(value)
    if not (math.isfinite(x) and (low < x if low_open else low <= x) and x <= high):
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return x


def check_priority_args(alpha, beta, epsilon, prefix=""):
    """``(alpha, beta, epsilon)`` as floats, or ``TypeError`` / ``ValueError`` naming
    ``prefix + name``."""
    return (_check_number(prefix + "alpha", alpha, 0.0),
            _check_number(prefix + "beta", beta, 0.0, 1.0),
            _check_number(prefix + "epsilon", epsilon, 0.0, low_open=True))


class PrioritizedReplayBuffer:
    r"""Proportional prioritized experience replay (Schaul et al., 2016).

    Each stored transition :math:`i` has a priority :math:`p_i = (|\mathcal{A}_i| +
    \epsilon)^\alpha`, kept in a :class:`SumTree`; sampling draws :math:`i` with probability
    :math:`P(i) = p_i / \sum_j p_j`. :math:`\mathcal{A}_i` is an advantage or TD error given
    to :meth:`add` or, after a learning step, to :meth:`update`. A transition added without
    one gets the largest :math:`|\mathcal{A}| + \epsilon` seen so far (1 initially), so it is
    sampled soon after it arrives. Priorities are clamped to ``[1e-100, 1e100]``, so extreme
    TD errors can never make the sums or weights overflow.

    Sampled batches carry importance weights

    .. math::

        W_i = \frac{(N P(i))^{-\beta}}{\max_{j \in \text{batch}} (N P(j))^{-\beta}},

    where :math:`N = \text{len(buffer)}`: normalised **over the sampled batch**, so the
    largest weight in every batch is 1. ``alpha``, ``beta`` and ``epsilon`` may be set between
    calls (e.g. ``buffer.beta = schedule(T)`` for annealing; a 0-d numpy or JAX array, as an
    optax schedule returns, is accepted); setting ``alpha`` re-exponentiates every stored
    priority exactly.

    The defaults ``alpha = beta = 1`` are coax's (and give unbiased updates with fully
    prioritized sampling); Schaul et al. used ``alpha=0.6`` and ``beta`` annealed from 0.4
    to 1 for proportional prioritization on Atari.

    Sampled batches carry **transition ids** in ``idx`` (the ``k``-th transition added has id
    ``k mod 2**31``, int32), not storage slots: :meth:`update` skips the ids of transitions
    no longer held (overwritten by newer ones or dropped), so a late update never lands on a
    slot's new occupant. Storage (frames stored once, memory check, lock
    against concurrent use) is that of :class:`SimpleReplayBuffer`.

    Args:
        capacity: the maximum number of transitions, an int >= 1.
        alpha: priority exponent :math:`\alpha \ge 0` (0: uniform sampling).
        beta: importance-weight exponent :math:`\beta \in [0, 1]`.
        epsilon: :math:`\epsilon > 0`, keeps every priority positive.
        random_seed: seed for the sampler's numpy ``Generator``.
        lean: store each observation frame once (see :class:`SimpleReplayBuffer`).
        frame_capacity: frames in the frame ring; ``None``: default.
        example_transition: a batch like those to come: the storage is allocated at
            construction (see :class:`SimpleReplayBuffer`).

    Raises:
        TypeError: if ``alpha``, ``beta`` or ``epsilon`` is not a real number (a string, a
            bool, ``None``, an array of more than one element), here and in their setters.
        ValueError: if an argument is out of range, here and in the setters.
        MemoryError: if ``capacity`` transitions cannot fit in the available memory.

    Examples:
        >>> import numpy as np
        >>> from coaxlike.reward_tracing import TransitionBatch
        >>> from coaxlike.experience_replay import PrioritizedReplayBuffer
        >>> buffer = PrioritizedReplayBuffer(capacity=10, alpha=1.0, beta=1.0, random_seed=0)
        >>> batch = TransitionBatch.from_one_step(
        ...     S=np.zeros((2, 4)), A=np.array([0, 1]), Rn=np.ones(2), In=np.ones(2),
        ...     S_next=np.ones((2, 4)))
        >>> buffer.add(batch, Adv=np.array([0.5, -2.0]))
        >>> buffer.priorities(np.array([0, 1])).round(4).tolist()
        [0.5001, 2.0001]
        >>> buffer.update(np.array([0, 1]), np.array([-3.0, 1.0]))  # both still held
        2
        >>> buffer.priorities(np.array([0, 1])).round(4).tolist()
        [3.0001, 1.0001]
        >>> sample = buffer.sample(batch_size=2)
        >>> sample.idx.shape, float(sample.W.max())
        ((2,), 1.0)
    """

    def __init__(self, capacity: int, alpha: float = 1.0, beta: float = 1.0,
                 epsilon: float = 1e-4, random_seed: int | None = None, *, lean: bool = True,
                 frame_capacity: int | None = None,
                 example_transition: TransitionBatch | None = None):
        self._alpha, self._beta, self._epsilon = check_priority_args(alpha, beta, epsilon)
        capacity = check_positive_int("capacity", capacity)
        leaves = 1 << (capacity - 1).bit_length()  # the sum-tree's, float64; _base: float64
        self._storage = HostStorage(capacity, lean, frame_capacity, example_transition,
                                    extra_row_bytes=-(-(16 * leaves + 8 * capacity) // capacity))
        self._tree = SumTree(capacity)
        self._base = np.zeros(self._storage.capacity)  # |Adv| + epsilon per slot
        self._rng = np.random.default_rng(check_seed(random_seed, low=0))
        self._lock = threading.Lock()
        self._max_base = 1.0
        self._warned = False

    @property
    def alpha(self) -> float:
        r"""The priority exponent :math:`\alpha \ge 0`; settable (validated, re-applied)."""
        return self._alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        alpha = _check_number("alpha", value, 0.0)
        if alpha == self._alpha:
            return
        with self._lock:
            self._alpha = alpha
            self._reprioritize()

    @property
    def beta(self) -> float:
        r"""The importance-weight exponent :math:`\beta \in [0, 1]`; settable (validated)."""
        return self._beta

    @beta.setter
    def beta(self, value: float) -> None:
        self._beta = _check_number("beta", value, 0.0, 1.0)

    @property
    def epsilon(self) -> float:
        r"""The offset :math:`\epsilon > 0` of later priorities; settable (validated)."""
        return self._epsilon

    @epsilon.setter
    def epsilon(self, value: float) -> None:
        self._epsilon = _check_number("epsilon", value, 0.0, low_open=True)

    @property
    def capacity(self) -> int:
        """The maximum number of transitions held."""
        return self._storage.capacity

    @property
    def nbytes(self) -> int:
        """Bytes of the preallocated storage, sum-tree included."""
        return self._storage.nbytes + self._tree._tree.nbytes + self._base.nbytes

    def __len__(self) -> int:
        """The number of transitions held."""
        return self._storage.size

    def clear(self) -> None:
        """Remove all transitions and reset the largest priority to 1."""
        with self._lock:
            self._storage.clear()
            self._tree.clear()
            self._base[:] = 0.0
            self._max_base = 1.0

    def add(self, transition_batch: TransitionBatch, Adv=None) -> None:
        r"""Store the ``B >= 1`` rows of a batch with priorities from ``Adv``.

        Args:
            transition_batch: the transitions.
            Adv: ``(B,)`` finite advantages or TD errors; the priority of row ``i`` is
                :math:`(|\mathcal{A}_i| + \epsilon)^\alpha`. ``None``: the largest
                :math:`|\mathcal{A}| + \epsilon` seen so far.

        Raises:
            ValueError: if the batch does not match the stored ones (see
                :meth:`SimpleReplayBuffer.add`), or ``Adv`` has the wrong shape or is not
                finite. Nothing is stored then.
            MemoryError: on the first add, if ``capacity`` such rows would not fit in memory.
        """
        base = None
        if Adv is not None:
            base = self._base_of("Adv", Adv, np.shape(transition_batch.A)[:1])
        with self._lock:
            idx, evicted = self._storage.add(transition_batch)
            if base is None:
                base = np.full(len(idx), self._max_base)
            else:
                base = base[len(base) - len(idx):]  # rows beyond capacity were not kept
                self._max_base = max(self._max_base, float(base.max()))
            self._base[idx] = base
            self._tree.set(idx, self._priority(base))
            if evicted.size:
                self._tree.set(evicted, np.zeros(evicted.shape))
        if evicted.size and not self._warned:
            self._warned = True
            warn_evicted(self._storage)

    def sample(self, batch_size: int = 32) -> TransitionBatch:
        """Draw ``batch_size`` transitions with probability proportional to priority.

        Returns:
            TransitionBatch: numpy leaves with leading axis ``batch_size``; ``W`` the
            importance weights (see the class docstring), ``idx`` the transition ids.

        Raises:
            ValueError: if the buffer is empty or ``batch_size`` exceeds ``len(buffer)``.
        """
        with self._lock:
            batch_size = self._storage.check_sample_size(batch_size)
            total = self._tree.total
            idx = self._tree.find(self._rng.uniform(0.0, total, size=batch_size))
            prob = self._tree.get(idx) / total
            W = (len(self) * prob) ** -self._beta
            return self._storage.gather(idx, W / W.max())

    def update(self, idx, Adv) -> int:
        r"""Set the priorities of transitions ``idx`` to :math:`(|\mathcal{A}| + \epsilon)^\alpha`.

        ``idx`` are the transition ids of a sampled batch. An id whose transition is no longer
        held (its slot was overwritten by a newer transition, or the frame ring dropped it,
        while the TD error was being computed: routine with a learner that lags behind, as in
        Ape-X) is skipped, so the newer occupant of the slot keeps its own priority.

        Args:
            idx: ``(B,)`` transition ids, as in a sampled batch's ``idx``.
            Adv: ``(B,)`` TD errors or advantages (signed; the magnitude is used). For a
                repeated id the last value wins.

        Returns:
            int: the number of ids whose priority was set (the others were stale).

        Raises:
            TypeError: if the ids are not integers or ``Adv`` not numbers.
            ValueError: if shapes differ, an id is not an int32 value >= 0 or was never
                handed out by this buffer, or a value is NaN or infinite. Nothing is changed
                then.
        """
        idx = np.asarray(idx)
        if idx.ndim != 1:
            raise ValueError(f"idx must have shape (B,), got {idx.shape}")
        base = self._base_of("Adv", Adv, idx.shape)
        with self._lock:
            slots, current = self._storage.slots(idx)
            slots, base = slots[current], base[current]
            self._base[slots] = base
            self._tree.set(slots, self._priority(base))
            if base.size:
                self._max_base = max(self._max_base, float(base.max()))
        return int(current.sum())

    def priorities(self, idx) -> np.ndarray:
        r"""The current priorities :math:`p_i` (after the exponent :math:`\alpha`) of the
        transitions with ids ``idx`` (0 for those no longer held)."""
        with self._lock:
            slots, current = self._storage.slots(idx)
            return np.where(current, self._tree.get(slots), 0.0)

    # --- the serialization protocol (coaxlike.serialization.save_object / load_object) ------

    def _serial_static(self):
        storage = self._storage
        return {"capacity": storage.capacity, "lean": storage.lean,
                "frame_capacity": storage.frame_capacity}

    def _serial_tree(self):
        """Every slot's row, the ring counters, the base priorities and the hyperparameters
        (the sampler's state is not saved). Needs allocated storage (one ``add``)."""
        with self._lock:
            rows, counters = self._storage.snapshot()
            return {"rows": rows, "counters": counters, "base": self._base.copy(),
                    "max_base": np.float64(self._max_base),
                    "hyperparameters": np.array([self._alpha, self._beta, self._epsilon])}

    def _serial_restore(self, tree):
        alpha, beta, epsilon = check_priority_args(*np.asarray(tree["hyperparameters"]))
        with self._lock:
            self._storage.restore(tree["rows"], tree["counters"])  # checks, or changes nothing
            self._alpha, self._beta, self._epsilon = alpha, beta, epsilon
            self._base[...] = np.asarray(tree["base"], np.float64)
            self._max_base = float(tree["max_base"])
            self._reprioritize()

    def _reprioritize(self):
        """Recompute every slot's priority from its base (0 for slots without a valid row)."""
        slots = np.arange(self._storage.capacity)
        valid = self._storage.valid(slots)
        self._tree.set(slots, np.where(valid, self._priority(self._base), 0.0))

    def _base_of(self, name, Adv, shape) -> np.ndarray:
        """``|Adv| + epsilon`` as float64, after checking shape and finiteness."""
        try:
            Adv = np.asarray(Adv, np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be an array of numbers, got {Adv!r}") from None
        if Adv.shape != tuple(shape):
            raise ValueError(f"{name} must have shape {tuple(shape)} (one value per "
                             f"transition), got {Adv.shape}")
        if not np.all(np.isfinite(Adv)):
            raise ValueError(f"{name} must be finite, got {Adv!r}")
        return np.abs(Adv) + self._epsilon

    def _priority(self, base: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", under="ignore"):
            return np.clip(base ** self._alpha, *PRIORITY_RANGE)
