"""Reward tracing: turn env steps into n-step transitions (:class:`TransitionBatch`)."""
from ._errors import EpisodeDoneError, InsufficientCacheError
from ._nstep import NStep
from ._transition import TransitionBatch

__all__ = ["EpisodeDoneError", "InsufficientCacheError", "NStep", "TransitionBatch"]
