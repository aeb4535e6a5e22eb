"""Evaluator: greedy episodes with published parameters, off the learner's critical path."""
import os
import time

import gymnasium as gym
import numpy as np

from ..policies import EpsilonGreedy
from ._process import node_id, peak_rss_mb
from ._schedule import check_count

__all__ = ["Evaluator"]


class Evaluator:
    """Plays greedy episodes (``pi.mode`` of an :class:`~coaxlike.EpsilonGreedy`) with
    published parameters.

    A plain class: :class:`ApeX` runs it as a Ray actor when ``evaluate_every`` is set, so
    evaluation costs the learner one remote call. Each :meth:`evaluate` call plays one
    episode in each of ``num_episodes`` envs stepped together, from the same reset seeds
    every time, so that successive scores differ only by the parameters.

    Args:
        make_env: ``() -> gymnasium.Env``.
        make_q: ``(envs) -> coaxlike.Q``, given a ``gymnasium.vector.SyncVectorEnv`` of
            ``make_env()`` envs (so ``q`` takes batches of observations).
        num_episodes: episodes per evaluation, an int >= 1.
        seed: the envs' reset seed.

    Raises:
        ValueError: if ``num_episodes`` is not an int >= 1.
    """

    def __init__(self, make_env, make_q, num_episodes=10, seed=10_000):
        self.num_episodes = check_count(num_episodes, "num_episodes")
        self.seed = int(seed)
        self.envs = gym.vector.SyncVectorEnv([make_env] * self.num_episodes)
        self.q = make_q(self.envs)
        self.pi = EpsilonGreedy(self.q, 0.0, random_seed=self.seed)

    def evaluate(self, network_state):
        """Mean return of ``num_episodes`` greedy episodes under ``network_state["params"]``.

        Returns:
            dict: ``mean_return``, ``returns`` (list), ``seconds``, ``peak_rss_mb``, ``pid``,
            ``node_id``.
        """
        t0 = time.perf_counter()
        self.q.params = network_state["params"]
        self.q.function_state = network_state["function_state"]
        S, _ = self.envs.reset(seed=self.seed)
        returns = np.zeros(self.num_episodes)
        running = np.ones(self.num_episodes, bool)
        while running.any():
            S, R, terminated, truncated, _ = self.envs.step(self.pi.mode(S))
            returns += R * running
            running &= ~(terminated | truncated)
        return {"mean_return": float(returns.mean()), "returns": returns.tolist(),
                "seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb(),
                "pid": os.getpid(), "node_id": node_id()}
