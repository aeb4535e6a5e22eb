"""Range checks for hyperparameters, shared by policies and learners (host side)."""
import math
import numbers

import numpy as np

__all__ = []  # private module

# the normal float32 range: XLA on CPU may flush subnormals to zero
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)    # ~1.18e-38
_FLOAT32_MAX = float(np.finfo(np.float32).max)      # ~3.40e38


def as_real(value, name, expected):
    """``value`` as a Python float if it is a real number, else ``ValueError``.

    Accepted: Python ``int``/``float``, NumPy real scalars and 0-d real arrays (JAX arrays
    too). Refused: ``bool`` (``True`` is not a probability), ``str`` and ``bytes`` (``float``
    would parse them), complex numbers, arrays with more than one element.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    if not isinstance(value, (str, bytes, bool)):
        dtype, shape = getattr(value, "dtype", None), getattr(value, "shape", None)
        if shape == () and dtype is not None and np.dtype(dtype).kind in "iuf":
            return float(value)
    shown = f"{type(value).__name__} {value!r}"
    if getattr(value, "shape", None) not in (None, ()):
        shown = f"array of shape {value.shape}"
    raise ValueError(f"{name} must be {expected}, got {shown}")


def check_unit(value, name):
    """Return ``value`` as a float, or raise ``ValueError`` unless it is a real number in
    ``[0, 1]``."""
    x = as_real(value, name, "a float in [0, 1]")
    if not (math.isfinite(x) and 0.0 <= x <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return x


def check_positive(value, name):
    """Return ``value`` as a float, or raise ``ValueError`` unless it is a finite real
    number > 0."""
    x = as_real(value, name, "a positive float")
    if not (math.isfinite(x) and x > 0.0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return x


def check_positive_float32(value, name):
    """:func:`check_positive` for a value stored as float32: also refuse values that float32
    would round to inf or to a subnormal or zero (above ~3.4e38, below ~1.2e-38)."""
    x = check_positive(value, name)
    if not _FLOAT32_TINY <= x <= _FLOAT32_MAX:
        raise ValueError(f"{name} must lie in the float32 range [{_FLOAT32_TINY:.3g}, "
                         f"{_FLOAT32_MAX:.4g}] (it is stored as float32), got {value!r}")
    return x
