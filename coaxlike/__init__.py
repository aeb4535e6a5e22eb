"""coaxlike: value-based reinforcement learning in JAX.

Exploration policies over Q-functions, expressed as categorical distributions with exact
log-propensities, and the off-policy learning machinery that uses them.

Sub-packages: :mod:`coaxlike.policies`, :mod:`coaxlike.distributions`,
:mod:`coaxlike.td_learning`, :mod:`coaxlike.reward_tracing`,
:mod:`coaxlike.experience_replay`, :mod:`coaxlike.serialization`, :mod:`coaxlike.wrappers`,
:mod:`coaxlike.utils`, :mod:`coaxlike.value_transforms`, :mod:`coaxlike.value_losses`; agents that compose
them: :mod:`coaxlike.agents`.
"""
from . import _registration  # noqa: F401  (gymnasium ids coax registers)
from . import (distributions, experience_replay, policies, reward_tracing, serialization,
               td_learning, utils, value_losses, value_transforms, wrappers)
from . import agents  # noqa: E402 - the room above the parts: imported after them
from ._q import Q
from ._stochastic_q import StochasticQ
from .policies import BoltzmannPolicy, EpsilonGreedy

__version__ = "0.1.0"

__all__ = ["Q", "StochasticQ", "EpsilonGreedy", "BoltzmannPolicy", "distributions", "policies",
           "td_learning", "reward_tracing", "experience_replay", "serialization", "wrappers",
           "utils", "value_transforms", "value_losses", "agents",
           "__version__"]
