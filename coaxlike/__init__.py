"""coaxlike: value-based reinforcement learning in JAX.

Exploration policies over Q-functions, expressed as categorical distributions with exact
log-propensities.
"""
from . import distributions, policies, serialization
from ._q import Q
from .policies import BoltzmannPolicy, EpsilonGreedy

__version__ = "0.1.0"

__all__ = ["Q", "EpsilonGreedy", "BoltzmannPolicy", "distributions", "policies", "serialization",
           "__version__"]
