"""coaxlike: value-based reinforcement learning in JAX.

Exploration policies over Q-functions, expressed as categorical distributions with exact
log-propensities.
"""
__version__ = "0.1.0"

__all__ = ["__version__"]
