"""Saving and loading coaxlike objects through the serialization protocol.

A class opts in by defining three methods:

* ``_serial_static(self) -> dict``: JSON-able static hyperparameters that fix the shapes of
  what is stored (network structure, spaces, number of actions, ...). They enter the
  fingerprint only; they are not restored.
* ``_serial_tree(self) -> pytree``: the leaves to store (params, function state,
  hyperparameters kept as arrays, the PRNG key, ...). Its current values are written by
  :func:`save_object`; on :func:`load_object` it serves as the skeleton.
* ``_serial_restore(self, tree) -> None``: set those leaves from a tree shaped like
  ``_serial_tree()``, validating as a setter should.

The static dict actually fingerprinted is ``{"type": "<module>.<qualname>", **_serial_static()}``,
so a file saved from one class never loads into another.
"""
import os
from typing import Any

from coaxlike.serialization._file import load, save

__all__ = ["save_object", "load_object"]

_PROTOCOL = ("_serial_static", "_serial_tree", "_serial_restore")


def _object_static(obj: Any) -> dict[str, Any]:
    """The static description of ``obj``: its class's qualified name and ``_serial_static()``."""
    missing = [name for name in _PROTOCOL if not callable(getattr(obj, name, None))]
    if missing:
        raise TypeError(f"{type(obj).__qualname__} does not support serialization: it has no "
                        f"{', '.join(missing)} method(s)")
    static = obj._serial_static()
    if not isinstance(static, dict):
        raise TypeError(f"{type(obj).__qualname__}._serial_static() must return a dict, "
                        f"got {type(static).__qualname__}")
    if "type" in static:
        raise ValueError(f"{type(obj).__qualname__}._serial_static() must not use the key "
                         "'type'; it is reserved for the class name")
    return {"type": f"{type(obj).__module__}.{type(obj).__qualname__}", **static}


def save_object(path: str | os.PathLike, obj: Any, *, suffix: str | None = ".cxl") -> str:
    """Save an object's state with :func:`save`, fingerprinted with its class and static config.

    Args:
        path: where to write; ``suffix`` is appended unless ``path`` already ends with it.
        obj: an object implementing ``_serial_static``, ``_serial_tree`` and
            ``_serial_restore`` (see the ``coaxlike.serialization`` module docstring).
        suffix: as for :func:`save`; ``None`` or ``""`` uses ``path`` as given.

    Returns:
        The path written, with the suffix applied.

    Raises:
        TypeError: ``obj`` does not implement the protocol, or what it returns cannot be
            serialized.
        ValueError: as for :func:`save`, or ``_serial_static()`` uses the reserved key
            ``"type"``.
        OSError: the file cannot be written (the previous file is left intact).

    Examples:
        >>> import os, tempfile
        >>> import jax.numpy as jnp
        >>> from coaxlike.serialization import load_object, save_object
        >>> class Linear:
        ...     def __init__(self, n):
        ...         self.n, self.w = n, jnp.zeros(n)
        ...     def _serial_static(self):
        ...         return {"n": self.n}
        ...     def _serial_tree(self):
        ...         return {"w": self.w}
        ...     def _serial_restore(self, tree):
        ...         self.w = tree["w"]
        >>> trained = Linear(3)
        >>> trained.w = jnp.arange(3.0)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = save_object(os.path.join(d, "linear"), trained)
        ...     fresh = Linear(3)
        ...     load_object(path, fresh)
        >>> fresh.w
        Array([0., 1., 2.], dtype=float32)
    """
    static = _object_static(obj)
    return save(path, obj._serial_tree(), static=static, suffix=suffix)


def load_object(path: str | os.PathLike, obj: Any, *, suffix: str | None = ".cxl") -> None:
    """Load state saved by :func:`save_object` into ``obj``, in place.

    ``obj._serial_tree()`` is the skeleton and ``{"type": ..., **obj._serial_static()}`` the
    static description; the file is verified in full (see :func:`load`) before
    ``obj._serial_restore`` is called, so on any error ``obj`` is unchanged.

    Args:
        path: the file; ``suffix`` is appended unless ``path`` already ends with it.
        obj: an object of the class that was saved, constructed with the same static
            configuration (e.g. freshly initialised).
        suffix: as for :func:`save`.

    Raises:
        TypeError: ``obj`` does not implement the protocol.
        ValueError: the file is damaged, not a coaxlike file, or was saved from another class
            or configuration; the message names the differing static entries and leaves.
        OSError: the file cannot be opened or read.

    Examples:
        See :func:`save_object`.
    """
    static = _object_static(obj)
    obj._serial_restore(load(path, obj._serial_tree(), static=static, suffix=suffix))
