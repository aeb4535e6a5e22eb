"""SimpleReplayBuffer: uniform experience replay in preallocated host (numpy) arrays."""
import threading

import numpy as np

from .._checks import check_seed
from ..reward_tracing import TransitionBatch
from ._storage import HostStorage, warn_evicted

__all__ = ["SimpleReplayBuffer"]


class SimpleReplayBuffer:
    """A circular replay buffer that samples stored transitions uniformly, with replacement.

    Storage is preallocated numpy arrays with leading axis ``capacity``, shaped on the first
    :meth:`add` from that batch's leaves and dtypes (``uint8`` stays ``uint8``); once full,
    the oldest transitions are overwritten. Sampled batches have ``W`` all ones and ``idx``
    the ``(B,)`` int32 transition ids (the ``k``-th transition added has id ``k mod 2**31``;
    see :meth:`PrioritizedReplayBuffer.update`).

    **Frames are stored once** (``lean=True``): every observation leaf of at least 512 bytes
    per row (an image, one frame of a :class:`~coaxlike.wrappers.FrameStacking` tuple) goes
    to a preallocated ring of frames, and a transition holds ``n + 3`` int32 indices into it
    for ``S``, ``S_next`` and the ``n + 1`` steps of ``S_seq``. Each frame is looked up among
    recently stored ones (a fingerprint, then a byte-for-byte comparison) and written only if
    new, so consecutive transitions and overlapping frame stacks share storage: about one
    frame per env step instead of ``(n + 3) k``. Sampling gathers the frames by index, so a
    sampled batch equals, field by field, what dense storage returns. If the frame ring
    (``frame_capacity`` frames, by default ``capacity + capacity // 50 + 256``) wraps onto
    frames still in use, the oldest transitions using them are dropped first and
    ``len(buffer)`` falls below ``capacity``; that happens only when transitions share fewer
    frames than a stream of env steps does (e.g. unrelated transitions added by hand, or
    episodes shorter than ~50 steps at full capacity), and a ``RuntimeWarning`` says so once.
    Small observations (CartPole's) are stored densely, as is everything with ``lean=False``.
    This is the idea of Dopamine's circular replay buffer and SB3's ``optimize_memory_usage``,
    without their assumption that row ``i + 1`` continues row ``i``.

    **Memory** is checked at construction, against the available memory (``MemAvailable``):
    with ``example_transition`` (a batch like those to come, e.g. the tracer's first output)
    the arrays are allocated right away and a capacity whose rows would not fit raises
    ``MemoryError`` naming the capacity and the bytes per transition; without it the row size
    is not known yet, so construction checks the least a transition can take (16 bytes) and
    the exact check runs when the first :meth:`add` allocates (raising ``MemoryError`` then,
    with the buffer left empty and usable).

    **Threads**: :meth:`add`, :meth:`sample` and :meth:`clear` hold one lock, so a thread
    adding while another samples never sees a row torn between two transitions.

    Randomness comes from a numpy ``Generator`` seeded with ``random_seed``: a host-side
    buffer needs no device RNG. For a buffer inside compiled code use
    :class:`PytreeReplayBuffer`.

    Args:
        capacity: the maximum number of transitions, an int >= 1.
        random_seed: seed for the sampler (``None``: fresh entropy).
        lean: store each observation frame once (see above); ``False``: densely.
        frame_capacity: frames in the ring (per frame shape and dtype); ``None``: default.
        example_transition: a batch like those to come (any number of rows, e.g.
            ``tracer.pop()``): allocate the storage and check its memory now.

    Raises:
        TypeError: if ``capacity`` or ``frame_capacity`` is not an int, or ``lean`` not a
            bool.
        ValueError: if ``capacity`` or ``frame_capacity`` is < 1, or
            ``example_transition`` is not a valid batch.
        MemoryError: if ``capacity`` transitions cannot fit in the available memory.

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

    def __init__(self, capacity: int, random_seed: int | None = None, *, lean: bool = True,
                 frame_capacity: int | None = None,
                 example_transition: TransitionBatch | None = None):
        self._storage = HostStorage(capacity, lean, frame_capacity, example_transition)
        self._rng = np.random.default_rng(check_seed(random_seed, low=0))
        self._lock = threading.Lock()
        self._warned = False

    @property
    def capacity(self) -> int:
        """The maximum number of transitions held."""
        return self._storage.capacity

    @property
    def nbytes(self) -> int:
        """Bytes of the preallocated storage (0 before the first :meth:`add`)."""
        return self._storage.nbytes

    def __len__(self) -> int:
        """The number of transitions held."""
        return self._storage.size

    def clear(self) -> None:
        """Remove all transitions."""
        with self._lock:
            self._storage.clear()

    def add(self, transition_batch: TransitionBatch) -> None:
        """Store the ``B >= 1`` rows of a batch (``W`` and ``idx`` are not stored).

        Raises:
            ValueError: if the batch's structure, row shapes or dtype kinds differ from the
                stored ones, or integers do not fit the stored dtype (the message names the
                field). Nothing is stored then.
            MemoryError: on the first add, if ``capacity`` such rows would not fit in memory.
        """
        with self._lock:
            evicted = self._storage.add(transition_batch)[1]
        if evicted.size and not self._warned:
            self._warned = True
            warn_evicted(self._storage)

    def sample(self, batch_size: int = 32) -> TransitionBatch:
        """Draw ``batch_size`` transitions uniformly at random, with replacement.

        Returns:
            TransitionBatch: numpy leaves with leading axis ``batch_size``; ``W`` ones,
            ``idx`` the transition ids.

        Raises:
            ValueError: if the buffer is empty or ``batch_size`` exceeds ``len(buffer)``.
        """
        with self._lock:
            storage = self._storage
            batch_size = storage.check_sample_size(batch_size)
            idx = self._rng.integers(0, storage.size, size=batch_size)
            if storage.start:
                idx = (idx + storage.start) % storage.capacity
            return storage.gather(idx, np.ones(batch_size, np.float32))

