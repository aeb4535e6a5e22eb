"""ReplayServer: the prioritized replay buffer behind a Ray actor's interface."""
import logging
import os
import time

import numpy as np

from ..experience_replay import PrioritizedReplayBuffer
from ..serialization import load_object, save_object
from ._process import peak_rss_mb

__all__ = ["ReplayServer"]

logger = logging.getLogger("coaxlike.distributed")

_SUFFIX = ".cxl"
#: buffers whose rows take more than this, written densely, are not checkpointed
MAX_CHECKPOINT_BYTES = 2 * 2**30


class ReplayServer:
    r"""The central replay of Ape-X: a :class:`~coaxlike.experience_replay.PrioritizedReplayBuffer`
    with methods that Ray can call remotely.

    A plain class: :class:`ApeX` runs it as a Ray actor (``ray.remote(ReplayServer)``), which
    serialises the calls, so the buffer sees one call at a time. Actors :meth:`add` chunks
    with their initial priorities; the learner :meth:`sample` s several batches per call (one
    round trip for several gradient steps) and :meth:`update` s priorities with the TD errors
    it computed. Priorities follow the buffer: :math:`p = (|\delta| + \epsilon)^\alpha`.

    Args:
        capacity: the buffer's capacity, an int >= 1.
        alpha: priority exponent, as for the buffer.
        beta: importance-weight exponent, as for the buffer (settable with :meth:`set_beta`).
        epsilon: priority offset, as for the buffer.
        random_seed: the sampler's seed.

    Raises:
        ValueError: if an argument is out of range (checked by the buffer).

    Examples:
        >>> import numpy as np
        >>> from coaxlike.reward_tracing import TransitionBatch
        >>> from coaxlike.distributed import ReplayServer
        >>> server = ReplayServer(capacity=8, alpha=1.0, beta=1.0, random_seed=0)
        >>> tb = TransitionBatch.from_one_step(S=np.zeros((2, 4)), A=np.array([0, 1]),
        ...                                    Rn=np.ones(2), In=np.ones(2), S_next=np.ones((2, 4)))
        >>> server.add(tb, np.array([3.0, 0.0]))
        >>> server.size()
        2
        >>> server.sample(batch_size=2, num_batches=2, min_size=3) is None  # still warming up
        True
        >>> [b.batch_size for b in server.sample(batch_size=2, num_batches=2)]
        [2, 2]
    """

    def __init__(self, capacity, alpha=0.6, beta=0.4, epsilon=1e-4, random_seed=None):
        self.buffer = PrioritizedReplayBuffer(capacity, alpha=alpha, beta=beta, epsilon=epsilon,
                                              random_seed=random_seed)
        self.added = 0
        self.sampled = 0
        self.restored = 0
        self._restore_path = None
        self._warned_size = False
        self._started = time.perf_counter()

    def add(self, transition_batch, td_error):
        """Store a chunk with initial priorities from its TD errors ``(B,)``."""
        if self._restore_path is not None:
            self._restore(transition_batch)
        self.buffer.add(transition_batch, Adv=np.asarray(td_error))
        self.added += transition_batch.batch_size

    def save(self, path, max_bytes=MAX_CHECKPOINT_BYTES):
        """Write the buffer's contents (every row, priorities, counters) to ``path`` in the
        fingerprinted format of :mod:`coaxlike.serialization` (atomically).

        The rows are written densely (a frame stored once in memory is written once per row
        that uses it), so a buffer whose rows would take more than ``max_bytes`` (2 GiB by
        default: image observations at large capacities) is not saved; that is logged once.

        Returns:
            str or None: the file written, or ``None`` (empty buffer, or too large).
        """
        if len(self.buffer) == 0:
            return None
        need = self.buffer.capacity * self.buffer._storage.dense_row_bytes
        if need > max_bytes:
            if not self._warned_size:
                self._warned_size = True
                logger.warning("the replay buffer is not checkpointed: its rows take %.1f GiB "
                               "written densely (more than %.1f GiB)", need / 2**30,
                               max_bytes / 2**30)
            return None
        return save_object(path, self.buffer, suffix=_SUFFIX)

    def restore_on_first_add(self, path):
        """Restore the contents saved by :meth:`save` to ``path`` when the first chunk
        arrives (its rows give the layout the file is checked against), then add that chunk.

        A missing file is ignored; a file that does not match (another configuration, other
        observations, damaged) is logged at ERROR level and the buffer starts empty.

        Returns:
            bool: whether the file exists.
        """
        file = path if str(path).endswith(_SUFFIX) else str(path) + _SUFFIX
        self._restore_path = file if os.path.exists(file) else None
        return self._restore_path is not None

    def _restore(self, chunk):
        path, self._restore_path = self._restore_path, None
        if len(self.buffer) == 0:
            self.buffer.add(chunk)  # lays the storage out; the restore replaces it
        try:
            load_object(path, self.buffer, suffix=_SUFFIX)
        except (ValueError, OSError) as e:
            logger.error("could not restore the replay buffer from %s; starting empty: %s",
                         path, e)
            self.buffer.clear()
            return
        self.restored = len(self.buffer)
        logger.info("restored %d transitions into the replay buffer from %s", self.restored,
                    path)

    def sample(self, batch_size=32, num_batches=1, min_size=0):
        """``num_batches`` prioritized batches of ``batch_size``, or ``None`` while the buffer
        holds fewer than ``max(min_size, batch_size)`` transitions.

        Returns:
            list of :class:`~coaxlike.reward_tracing.TransitionBatch` (with ``W`` and
            ``idx``), or ``None``.
        """
        if self.size() < max(int(min_size), int(batch_size)):
            return None
        self.sampled += int(batch_size) * int(num_batches)
        return [self.buffer.sample(batch_size=batch_size) for _ in range(int(num_batches))]

    def update(self, idx, td_error):
        """Set the priorities of rows ``idx`` from TD errors (see the buffer's ``update``)."""
        self.buffer.update(idx, td_error)

    def set_beta(self, beta):
        """Set the buffer's importance-weight exponent (e.g. annealed by the learner)."""
        self.buffer.beta = beta

    def size(self):
        """The number of transitions held."""
        return len(self.buffer)

    def stats(self):
        """dict: ``size``, ``added``, ``sampled`` (rows), ``restored`` (rows restored from a
        checkpoint), ``peak_rss_mb``, ``pid``."""
        return {"size": self.size(), "added": self.added, "sampled": self.sampled,
                "restored": self.restored, "peak_rss_mb": peak_rss_mb(), "pid": os.getpid()}
