"""Agents: ready-to-train compositions of the library's parts.

:class:`DQN` trains with its defaults in three lines (``DQN("CartPole-v1").learn(100_000)``)
and opens up into its parts (``agent.q``, ``agent.policy``, ``agent.learner``,
``agent.buffer``, ``agent.tracer``) and into pure functions over pytrees
(:class:`DQNParams`, :class:`DQNOptState`, :class:`PolicyState`, :class:`PolicyOutput`) for
training loops compiled whole. :func:`evaluate_policy` runs greedy evaluation episodes side by
side.
"""
from ._dqn import DQN
from ._evaluation import evaluate_policy
from ._functional import DQNOptState, DQNParams, PolicyOutput, PolicyState

__all__ = ["DQN", "DQNParams", "DQNOptState", "PolicyState", "PolicyOutput", "evaluate_policy"]
