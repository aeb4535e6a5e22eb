"""coaxlike: value-based reinforcement learning in JAX.

Exploration policies over Q-functions, expressed as categorical distributions with exact
log-propensities, and the off-policy learning machinery that uses them.

Sub-packages: :mod:`coaxlike.policies`, :mod:`coaxlike.distributions`,
:mod:`coaxlike.td_learning`, :mod:`coaxlike.reward_tracing`,
:mod:`coaxlike.experience_replay`, :mod:`coaxlike.serialization`, :mod:`coaxlike.wrappers`,
:mod:`coaxlike.utils`.
"""
from . import (distributions, experience_replay, policies, reward_tracing, serialization,
               td_learning, utils, wrappers)
from ._q import Q
from .policies import BoltzmannPolicy, EpsilonGreedy

__version__ = "0.1.0"

__all__ = ["Q", "EpsilonGreedy", "BoltzmannPolicy", "distributions", "policies",
           "td_learning", "reward_tracing", "experience_replay", "serialization", "wrappers",
           "utils", "__version__"]
