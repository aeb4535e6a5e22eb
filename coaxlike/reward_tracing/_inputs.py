"""Validation and conversion of one :meth:`NStep.add` call, done before anything is recorded.

Every function here is pure with respect to the tracer: it reads the tracer's fixed settings
(ring shapes, mask setting) and returns numpy arrays with a leading sub-env axis, or raises
``TypeError`` (a value of the wrong kind) or ``ValueError`` (the right kind, a wrong shape or
value) naming the argument. The tracer records only after all of them succeeded.
"""
import math
import numbers
from typing import Any, NamedTuple

import jax
import numpy as np

__all__ = []  # private module


class Step(NamedTuple):
    """One validated time step of ``k`` sub-envs (``k = 1`` for a single env)."""

    s: list                 # observation leaves, each (k, ...)
    treedef: Any            # their structure
    a: Any                  # actions (k, ...) or None (a single env's final-observation step)
    r: Any                  # float64 (k,) or None
    logp: Any               # float64 (k,) (NaN: not recorded) or None
    w: Any                  # float64 (k,) or None
    mask: Any               # bool (k, n_actions) or None
    done: Any               # bool (k,) or None
    truncated: Any          # bool (k,) or None


def flag(name, value, lead):
    """A Python bool, or (``lead != ()`` and ``value`` not a scalar) a bool array ``lead``."""
    if lead == () or np.ndim(value) == 0:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        # bools and integers are the right kind (0 and 1 accepted); anything else, TypeError
        integer = isinstance(value, numbers.Integral) or np.asarray(value).dtype.kind in "biu"
        if integer and np.ndim(value) == 0 and value in (0, 1):
            return bool(value)
        raise (ValueError if integer else TypeError)(
            f"{name} must be a bool, got {_show(value)}")
    x = np.asarray(value)
    if x.dtype == bool and x.shape == lead:  # the common case: gymnasium's arrays
        return x
    if x.dtype.kind not in "biu":
        raise TypeError(f"{name} must be bools of shape {lead}, got {_show(value)}")
    if x.shape != lead or np.any((x != 0) & (x != 1)):
        raise ValueError(f"{name} must be bools of shape {lead}, got {_show(value)}")
    return x.astype(bool)


_RULES = {
    # name: (test of a float64 array, the same for a Python float, what the message says)
    "finite": (lambda x: np.count_nonzero(np.isfinite(x)) == x.size, math.isfinite, "finite"),
    "logp": (lambda x: not np.count_nonzero(x > 0), lambda x: not x > 0,
             "a log-probability <= 0 (or None if not recorded)"),
    "positive": (lambda x: (np.isfinite(x) & (x > 0)).all(),
                 lambda x: math.isfinite(x) and x > 0,
                 "finite and > 0"),
}


_SCALARS = (float, int, np.floating, np.integer)


def reals(name, value, lead, *, default, allow_scalar, rule):
    """Float64 array of shape ``lead`` (``(1,)`` for a single env; a scalar is broadcast if
    ``allow_scalar``) whose values pass ``_RULES[rule]``; ``None`` gives ``default``."""
    if value is None:
        return np.full(lead or (1,), default, np.float64)
    test, test_float, expected = _RULES[rule]
    if isinstance(value, _SCALARS) and (lead == () or allow_scalar):  # checked in Python
        if not test_float(float(value)):
            raise ValueError(f"{name} must be {expected}, got {float(value)}")
        return np.array([value], np.float64) if lead == () else np.full(lead, value, np.float64)
    try:
        x = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number{'' if lead == () else ' or an array'}, "
                         f"got {_show(value)}") from None
    if lead == ():
        if x.ndim != 0:
            raise ValueError(f"{name} must be a scalar for a single env, got shape {x.shape}")
        x = x.reshape(1)
    elif x.ndim == 0 and allow_scalar:
        x = np.full(lead, x)
    elif x.shape != lead:
        raise ValueError(f"{name} must have leading axis num_envs={lead[0]}, "
                         f"got shape {x.shape}")
    if not test(x):
        raise ValueError(f"{name} must be {expected}, got "
                         f"{x.tolist() if lead else float(x[0])}")
    return x


def action(name, a, lead, ref):
    """Actions with leading ``lead``: integers keep their dtype, floats become float32.

    ``ref`` is ``None`` (the first action) or ``(shape, dtype)`` of one earlier action.
    """
    x = _array(name, a, "biuf", "be an int or an array of numbers")
    x = x.astype(np.float32) if x.dtype.kind == "f" else x
    if x.shape[:len(lead)] != lead:
        raise ValueError(f"{name} must have leading axis num_envs={lead[0]}, got shape {x.shape}")
    if ref is not None:
        if x.shape[len(lead):] != ref[0]:
            raise ValueError(f"{name} must have the shape {ref[0]} of the first action, got "
                             f"shape {x.shape[len(lead):]}")
        if ref[1].kind in "iu" and x.dtype.kind not in "biu":
            raise TypeError(f"{name} must be integer like the first action ({ref[1]}), got "
                             f"{_show(a)}")
    return x.reshape((lead or (1,)) + x.shape[len(lead):])


def observation(name, s, lead, ref):
    """Observation leaves with a leading ``lead`` (added as size 1 for a single env).

    ``ref`` is ``None`` (the first observation) or ``(treedef, shapes)``: the structure and
    the per-sub-env leaf shapes every later observation must have.
    """
    leaves, treedef = jax.tree_util.tree_flatten(s)
    if not leaves:
        raise TypeError(f"{name} must be an array or a pytree of arrays, got {_show(s)}")
    if ref is not None and treedef != ref[0]:
        raise ValueError(f"{name} must have the structure {ref[0]} of the first "
                         f"observation, got {treedef}")
    out = []
    for i, y in enumerate(leaves):
        x = _array(name, y, "biuf", "hold numeric arrays")
        if x.shape[:len(lead)] != lead:
            raise ValueError(f"{name} must have leading axis num_envs={lead[0]} on every leaf, "
                             f"got a leaf of shape {x.shape}")
        if ref is not None and x.shape[len(lead):] != ref[1][i]:
            what = "shape" if lead == () else "per-sub-env shape"
            raise ValueError(f"{name} must have the {what} {ref[1][i]} of the first "
                             f"observation, got {x.shape[len(lead):]}"
                             + (f" (leaf {i})" if len(leaves) > 1 else ""))
        out.append(x.reshape((lead or (1,)) + x.shape[len(lead):]))
    return out, treedef


def shapes_of(leaves, treedef):
    """The ``ref`` for :func:`observation` from leaves with a leading sub-env axis."""
    return treedef, [x.shape[1:] for x in leaves]


def mask_array(name, mask, lead, n_actions):
    """A bool mask ``lead + (n_actions,)`` (``n_actions`` None: take it from this mask)."""
    x = _array(name, mask, "biu", "be a bool array")
    want = lead + ((x.shape[-1] if x.ndim else 0) if n_actions is None else n_actions,)
    if x.shape != want or want[-1] == 0:
        raise ValueError(f"{name} must have shape {want}, got {x.shape}")
    return x.astype(bool).reshape((lead or (1,)) + want[-1:])


def _array(name, value, kinds, expected):
    """``np.asarray(value)``, or ``TypeError`` naming ``name`` unless its dtype kind is in
    ``kinds`` (numpy's own conversion errors name no argument)."""
    try:
        x = np.asarray(value)
    except (TypeError, ValueError):
        x = None
    if x is None or x.dtype.kind not in kinds:
        raise TypeError(f"{name} must {expected}, got {_show(value)}")
    return x


def _show(x):
    text = repr(x)
    return text if len(text) <= 80 else f"{type(x).__name__} of shape {np.shape(x)}"
