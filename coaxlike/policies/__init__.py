"""Value-based exploration policies: categorical distributions over Q-values."""
from ._base import ValuePolicy
from .boltzmann import BoltzmannPolicy
from .epsilon_greedy import EpsilonGreedy

__all__ = ["ValuePolicy", "EpsilonGreedy", "BoltzmannPolicy"]
