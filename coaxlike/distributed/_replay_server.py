"""ReplayServer: the prioritized replay buffer behind a Ray actor's interface."""
import os
import time

import numpy as np

from ..experience_replay import PrioritizedReplayBuffer
from ._process import peak_rss_mb

__all__ = ["ReplayServer"]


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
        self._started = time.perf_counter()

    def add(self, transition_batch, td_error):
        """Store a chunk with initial priorities from its TD errors ``(B,)``."""
        self.buffer.add(transition_batch, Adv=np.asarray(td_error))
        self.added += transition_batch.batch_size

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
        """dict: ``size``, ``added``, ``sampled`` (rows), ``peak_rss_mb``, ``pid``."""
        return {"size": self.size(), "added": self.added, "sampled": self.sampled,
                "peak_rss_mb": peak_rss_mb(), "pid": os.getpid()}
