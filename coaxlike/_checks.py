"""Type and range checks for arguments, shared by the parts and the rooms (host side).

The rule: the wrong type (a string, an array, a bool where a number is due) raises
``TypeError``; a value of the right type outside its range raises ``ValueError``. Each
message names the argument, what was expected and what was given.
"""
import math
import numbers

import numpy as np

__all__ = []  # private module

# the normal float32 range: XLA on CPU may flush subnormals to zero
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)    # ~1.18e-38
_FLOAT32_MAX = float(np.finfo(np.float32).max)      # ~3.40e38


def as_real(value, name, expected):
    """``value`` as a Python float if it is a real number, else ``TypeError``.

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
    raise TypeError(f"{name} must be {expected}, got {shown}")


def check_unit(value, name):
    """Return ``value`` as a float in ``[0, 1]``: ``TypeError`` unless it is a real number,
    ``ValueError`` unless it lies in ``[0, 1]``."""
    x = as_real(value, name, "a float in [0, 1]")
    if not (math.isfinite(x) and 0.0 <= x <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return x


def check_positive(value, name):
    """Return ``value`` as a finite float > 0: ``TypeError`` unless it is a real number,
    ``ValueError`` unless it is finite and > 0."""
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


def check_int(value, name, low=1):
    """Return ``value`` as an int >= ``low``: ``TypeError`` unless it is an integer (``bool``
    refused), ``ValueError`` if it is below ``low``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {low}, got {type(value).__name__} "
                        f"{value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def check_bool(value, name):
    """Return ``value`` as a bool, or raise ``TypeError`` unless it is a Python or NumPy
    bool (``0``/``1`` are refused: a flag is not a number)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def check_seed(value, name="random_seed", low=None):
    """Return ``value`` as an int (``None`` stays ``None``): ``TypeError`` unless ``None`` or
    an integer (``"3"`` and ``1.5`` are refused, not converted), ``ValueError`` if below
    ``low`` (when given)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int or None, got {type(value).__name__} {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be an int >= {low} or None, got {value!r}")
    return int(value)
