"""RolloutActor: one Ape-X actor (env, Q copy, EpsilonGreedy, NStep, initial priorities)."""
import logging
import os
import time

import gymnasium as gym
import jax
import numpy as np

from ..policies import EpsilonGreedy
from ..reward_tracing import NStep
from ._params import set_network_state
from ._process import node_id, peak_rss_mb, reconstructed
from ._ray import ray
from ._schedule import check_count

__all__ = ["RolloutActor"]

logger = logging.getLogger("coaxlike.distributed")


def concatenate(batches):
    """One batch from a list of batches with the same structure (rows stacked)."""
    if len(batches) == 1:
        return batches[0]
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *batches)


def split_rows(batch, size):
    """``(batch[:size], batch[size:])`` row-wise."""
    return (jax.tree_util.tree_map(lambda x: x[:size], batch),
            jax.tree_util.tree_map(lambda x: x[size:], batch))


class RolloutActor:
    r"""One Ape-X actor: steps its own envs with an :class:`~coaxlike.EpsilonGreedy` over a
    local copy of the Q-function, traces n-step transitions with :class:`~coaxlike.reward_tracing.NStep`
    and sends them, with their initial priorities, to a :class:`ReplayServer`.

    A plain class: :class:`ApeX` runs it as a Ray actor (``ray.remote(RolloutActor)``); it can
    also be used in-process, e.g. to debug an env. Every :meth:`run` call first loads the
    parameters it is given (so the actor acts with parameters at most ``num_steps`` vector
    steps old), then steps ``num_envs`` copies of the env ``num_steps`` times. Transitions
    travel in chunks of exactly ``send_batch_size`` rows (one compiled shape); each chunk's
    initial priorities are the TD errors ``learner.td_error(chunk)`` under the actor's copy of
    the online and target parameters, as in Ape-X; the actions' log-propensities travel in
    the chunk's ``logP`` fields. Rows not yet sent stay for the next call.

    Args:
        make_env: ``() -> gymnasium.Env``, called ``num_envs`` times (a
            ``gymnasium.vector.SyncVectorEnv`` is built around them).
        make_q: ``(envs) -> coaxlike.Q``, given that vector env (so ``q`` takes batches).
        make_learner: ``(q, q_targ) -> TDLearner``; the actor uses only its ``td_error``.
        replay: the replay server: the name of its Ray actor (looked up with
            ``ray.get_actor``), a Ray actor handle of :class:`ReplayServer`, or an in-process
            :class:`ReplayServer` (for tests and debugging). :class:`ApeX` passes the name:
            Ray keeps a handle given to a constructor as an object-store argument, and warns
            that an actor restarted (``max_restarts > 0``) from such arguments may fail to
            rebuild (ray-project/ray#53727).
        epsilon: this actor's exploration rate (see :func:`apex_epsilons`).
        index: the actor's index (it seeds the envs and the policy).
        n_step: the tracer's horizon.
        gamma: the discount factor.
        num_envs: envs stepped together (one batched policy call per step), an int >= 1.
        send_batch_size: rows per chunk sent to the replay server, an int >= 1.
        seed: base random seed; actor ``index`` uses ``seed + 1000 * (index + 1)``. An actor
            restarted by Ray (after a crash) draws fresh seeds so that it does not replay the
            same episodes.

    Raises:
        ValueError: if a count is not an int >= 1.
    """

    def __init__(self, make_env, make_q, make_learner, replay, *, epsilon, index=0, n_step=3,
                 gamma=0.99, num_envs=1, send_batch_size=64, seed=0):
        self.index = check_count(index, "index", 0)
        self.num_envs = check_count(num_envs, "num_envs")
        self.send_batch_size = check_count(send_batch_size, "send_batch_size")
        self.replay = ray.get_actor(replay) if isinstance(replay, str) else replay
        self._remote = hasattr(self.replay.add, "remote")  # a Ray actor handle's method
        seed = int(seed) + 1000 * (self.index + 1)
        if reconstructed():
            seed = int.from_bytes(os.urandom(4), "little")
            logger.warning("rollout actor %d was restarted; reseeded with %d", self.index, seed)
        self._seed = seed
        self.envs = gym.vector.SyncVectorEnv([make_env] * self.num_envs)
        self.q = make_q(self.envs)
        self.q_targ = self.q.copy()
        self.learner = make_learner(self.q, self.q_targ)
        self.pi = EpsilonGreedy(self.q, epsilon, random_seed=seed)
        self.tracer = NStep(n=n_step, gamma=gamma, num_envs=self.num_envs)
        self._S = None
        self._returns = np.zeros(self.num_envs)
        self._unsent = []
        self._num_unsent = 0
        self.env_steps = 0

    def run(self, network_state, num_steps):
        """Load parameters, step every env ``num_steps`` times and send full chunks.

        Args:
            network_state: a dict from :func:`network_state` (or ``None`` to keep the current
                parameters); passed by :class:`ApeX` as an object reference, which Ray
                resolves from its object store.
            num_steps: vector steps to take, an int >= 1.

        Returns:
            dict: ``env_steps`` (taken in this call), ``episode_returns`` (list of floats of
            the episodes finished in this call), ``sent`` (rows sent), ``seconds``,
            ``peak_rss_mb``, ``pid``, ``node_id`` and ``index``.
        """
        num_steps = check_count(num_steps, "num_steps")
        t0 = time.perf_counter()
        if network_state is not None:
            set_network_state(self.q, self.q_targ, network_state)
        if self._S is None:
            self._S, _ = self.envs.reset(seed=self._seed)
        finished, sent, pending = [], 0, []
        for _ in range(num_steps):
            A, logP = self.pi(self._S, return_logp=True)
            S_next, R, terminated, truncated, _ = self.envs.step(A)
            done = terminated | truncated
            self.tracer.add(self._S, A, R, done, logP, truncated=truncated & ~terminated)
            self._returns += R
            for i in np.flatnonzero(done):
                finished.append(float(self._returns[i]))
                self._returns[i] = 0.0
            self._S = S_next
            while self.tracer:
                chunk = self.tracer.pop()
                self._unsent.append(chunk)
                self._num_unsent += chunk.batch_size
            while self._num_unsent >= self.send_batch_size:
                pending.append(self._send())
                sent += self.send_batch_size
        self.env_steps += num_steps * self.num_envs
        if pending and self._remote:
            ray.get(pending)  # back-pressure, and a lost replay server surfaces here
        return {"env_steps": num_steps * self.num_envs, "episode_returns": finished,
                "sent": sent, "seconds": time.perf_counter() - t0,
                "peak_rss_mb": peak_rss_mb(), "pid": os.getpid(), "node_id": node_id(),
                "index": self.index}

    def _send(self):
        batch, rest = split_rows(concatenate(self._unsent), self.send_batch_size)
        self._num_unsent -= self.send_batch_size
        self._unsent = [rest] if self._num_unsent else []
        td_error = self.learner.td_error(batch)
        if self._remote:
            return self.replay.add.remote(batch, td_error)
        return self.replay.add(batch, td_error)

