"""Range checks for hyperparameters, shared by policies and learners (host side)."""
import math

__all__ = []  # private module


def check_unit(value, name):
    """Return ``value`` as a float, or raise ``ValueError`` unless it is in ``[0, 1]``."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a float in [0, 1], got {value!r}") from None
    if not (math.isfinite(x) and 0.0 <= x <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return x


def check_positive(value, name):
    """Return ``value`` as a float, or raise ``ValueError`` unless it is finite and > 0."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive float, got {value!r}") from None
    if not (math.isfinite(x) and x > 0.0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return x
