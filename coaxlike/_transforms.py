"""Value transforms as the Q-functions hold them: a ``(transform, inverse)`` pair (the
identity by default) and its canonical description for file fingerprints.

The user-facing transforms live in :mod:`coaxlike.value_transforms`, a room above the
Q-functions; this part only needs anything that unpacks into two callables.
"""
import functools

__all__ = []  # private module


def _qualname(fn):
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def _transform_pair(value_transform):
    """``(transform, inverse)`` from a value transform: ``None`` is the identity; anything
    else must unpack into two callables (a :class:`~coaxlike.value_transforms.ValueTransform`
    does)."""
    if value_transform is None:
        return _identity, _identity
    try:
        f, f_inv = value_transform
    except (TypeError, ValueError):
        f = f_inv = None
    if not (callable(f) and callable(f_inv)):
        raise TypeError("value_transform must be a coaxlike.value_transforms.ValueTransform, a "
                        f"pair of functions (transform, inverse) or None, got {value_transform!r}")
    return f, f_inv


def _identity(x):
    return x


def _describe_fn(fn):
    """A canonical description of a function for fingerprints (partials by their arguments)."""
    if isinstance(fn, functools.partial):
        return {"func": _describe_fn(fn.func), "args": [repr(a) for a in fn.args],
                "keywords": {k: repr(v) for k, v in sorted(fn.keywords.items())}}
    return _qualname(fn)


def _describe_transform(value_transform):
    if value_transform is None:
        return None
    f, f_inv = _transform_pair(value_transform)
    return {"class": type(value_transform).__name__, "transform": _describe_fn(f),
            "inverse": _describe_fn(f_inv)}
