"""The tracer's exceptions, with coax's names (``coax._base.errors``)."""

__all__ = ["EpisodeDoneError", "InsufficientCacheError"]


class EpisodeDoneError(RuntimeError):
    """:meth:`NStep.add <coaxlike.reward_tracing.NStep.add>` after the step that ended an
    episode, while transitions of that episode are still waiting to be popped (as coax).

    Examples:
        >>> import numpy as np
        >>> from coaxlike.reward_tracing import NStep, EpisodeDoneError
        >>> tracer = NStep(1, 0.9)
        >>> tracer.add(np.zeros(2), 0, 1.0, True)
        >>> try:
        ...     tracer.add(np.zeros(2), 0, 1.0, False)
        ... except EpisodeDoneError:
        ...     print("pop first")
        pop first
    """


class InsufficientCacheError(IndexError):
    """:meth:`NStep.pop <coaxlike.reward_tracing.NStep.pop>` or ``flush()`` with no
    transition ready (as coax; an ``IndexError``).

    Examples:
        >>> from coaxlike.reward_tracing import NStep, InsufficientCacheError
        >>> try:
        ...     NStep(2, 0.9).pop()
        ... except InsufficientCacheError:
        ...     print("nothing ready")
        nothing ready
    """
