"""Checking that a new pytree can replace an old one: same structure, leaf shapes and dtypes.

Used by every property setter that accepts parameters or state, so that a mismatch is
reported with the first offending key path and the object is left unchanged.
"""
import jax
import jax.numpy as jnp
import numpy as np

__all__ = []  # private module


def _meta(x):
    if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        return tuple(x.shape), str(x.dtype)
    x = np.asarray(x) if not hasattr(x, "dtype") else x
    return tuple(x.shape), str(x.dtype)


def check_same_tree(new, old, name):
    """Raise unless ``new`` has the tree structure, leaf shapes and leaf dtypes of ``old``.

    Args:
        new: the candidate pytree.
        old: the reference pytree.
        name: the argument's name, used in error messages (e.g. ``"q.params"``).

    Raises:
        TypeError: the tree structures differ (names the first differing key path).
        ValueError: a leaf has another shape or dtype (names its key path).
    """
    # fast path (called on every training step): plain flatten, compare shapes and dtypes
    new_flat, new_struct = jax.tree_util.tree_flatten(new)
    old_flat, old_struct = jax.tree_util.tree_flatten(old)
    if new_struct == old_struct and all(
            getattr(x, "shape", None) == getattr(y, "shape", ()) and
            getattr(x, "dtype", None) == getattr(y, "dtype", None)
            for x, y in zip(new_flat, old_flat)):
        return
    new_leaves, new_def = jax.tree_util.tree_flatten_with_path(new)
    old_leaves, old_def = jax.tree_util.tree_flatten_with_path(old)
    if new_def != old_def:
        new_paths = [jax.tree_util.keystr(p) for p, _ in new_leaves]
        old_paths = [jax.tree_util.keystr(p) for p, _ in old_leaves]
        missing = [p for p in old_paths if p not in set(new_paths)]
        unexpected = [p for p in new_paths if p not in set(old_paths)]
        if missing or unexpected:
            raise TypeError(f"{name} has another tree structure: missing leaves "
                            f"{_few(missing)}, unexpected leaves {_few(unexpected)}")
        raise TypeError(f"{name} has another tree structure: expected {old_def}, got {new_def}")
    for (path, x), (_, y) in zip(new_leaves, old_leaves):
        if _meta(x) != _meta(y):
            (xs, xd), (ys, yd) = _meta(x), _meta(y)
            raise ValueError(f"{name}{jax.tree_util.keystr(path)} must have shape {ys} and "
                             f"dtype {yd}, got shape {xs} and dtype {xd}")


def _few(paths, k=3):
    shown = ", ".join(paths[:k]) or "none"
    return shown + (f" (+{len(paths) - k} more)" if len(paths) > k else "")


def as_checked_tree(new, old, name):
    """:func:`check_same_tree`, then return ``new`` with every leaf a JAX array."""
    check_same_tree(new, old, name)
    leaves, treedef = jax.tree_util.tree_flatten(new)
    if all(isinstance(x, jax.Array) for x in leaves):
        return new
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(x) for x in leaves])


def fresh_containers(tree):
    """A copy of the dicts, lists and tuples of a pytree that shares its leaves.

    What a property hands out instead of the live tree (haiku params are dicts of dicts):
    editing the copy in place cannot bypass the validating setter, and the leaves, immutable
    JAX arrays, are not copied. A few microseconds for a network's params.
    """
    kind = type(tree)
    if kind is dict:
        return {k: fresh_containers(v) for k, v in tree.items()}
    if kind is list or kind is tuple:
        return kind(fresh_containers(v) for v in tree)
    return tree


def copy_arrays(tree):
    """A pytree of new JAX arrays with the values of ``tree``'s: buffers of their own, so
    that a donated or overwritten original cannot reach the copy. A device-to-device copy
    (``jax.device_put(x, may_alias=False)``), no compiled program per leaf shape as
    ``jnp.array(x)`` would be."""
    return jax.tree_util.tree_map(lambda x: jax.device_put(x, may_alias=False), tree)
