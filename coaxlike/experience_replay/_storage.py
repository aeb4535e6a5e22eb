"""Row storage for TransitionBatch: shape checks (shared) and a preallocated host array store."""
import numbers

import jax
import numpy as np

from ..reward_tracing import TransitionBatch

__all__ = ["check_positive_int", "check_rows", "strip", "HostStorage"]


def check_positive_int(name, value) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` naming it unless it is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def strip(batch: TransitionBatch) -> TransitionBatch:
    """The part of a batch a buffer stores: ``W`` and ``idx`` are set on sampling."""
    if not isinstance(batch, TransitionBatch):
        raise TypeError(f"expected a TransitionBatch, got {type(batch).__name__}")
    return batch._replace(W=None, idx=None)


def check_rows(storage: TransitionBatch, batch: TransitionBatch) -> int:
    """Check that ``batch`` has the structure and row shapes of ``storage``; return ``B``.

    Both arguments are stripped batches (see :func:`strip`); only ``shape[1:]``, the tree
    structure and the dtype kind are compared, so this works on tracers at trace time.

    Raises:
        ValueError: naming the first field that differs, or whose leading axes disagree.
    """
    size = batch.A.shape[0]
    for name in TransitionBatch._fields:
        ref, new = getattr(storage, name), getattr(batch, name)
        ref_leaves, ref_def = jax.tree_util.tree_flatten(ref)
        new_paths, new_def = jax.tree_util.tree_flatten_with_path(new)
        if new_def != ref_def:
            raise ValueError(f"field {name!r} has structure {new_def}, but the buffer stores "
                             f"{ref_def}")
        for x, (path, y) in zip(ref_leaves, new_paths):
            where = name + jax.tree_util.keystr(path)
            if np.shape(y)[:1] != (size,):
                raise ValueError(f"field {where!r} has shape {np.shape(y)}, expected leading "
                                 f"batch axis {size} (the length of A)")
            if np.shape(y)[1:] != x.shape[1:]:
                raise ValueError(f"field {where!r} has rows of shape {np.shape(y)[1:]}, but the "
                                 f"buffer stores rows of shape {x.shape[1:]}")
            kinds = {_dtype(y).kind, _dtype(x).kind}
            if len(kinds) > 1 and not kinds <= set("iu"):
                raise ValueError(f"field {where!r} has dtype {_dtype(y)}, but the buffer "
                                 f"stores {_dtype(x)}")
    return size


def _signature(treedef, leaves):
    return treedef, tuple((np.shape(x)[1:], _dtype(x).kind) for x in leaves)


def _dtype(x) -> np.dtype:
    return np.dtype(x.dtype) if hasattr(x, "dtype") else np.result_type(x)


class HostStorage:
    """Preallocated numpy storage for TransitionBatch rows with circular overwrite.

    Arrays are allocated on the first :meth:`add`, shaped ``(capacity, *row_shape)`` per leaf
    from that batch's leaves (``W`` and ``idx`` are not stored).

    Args:
        capacity: the number of rows, an int >= 1.
    """

    def __init__(self, capacity: int):
        self.capacity = check_positive_int("capacity", capacity)
        self.data = None  # stripped TransitionBatch of (capacity, ...) arrays
        self._leaves = None  # the leaves of self.data, flattened once
        self._treedef = None
        self._signature = None  # (treedef, row shapes and dtype kinds) of self.data
        self._accepted = None  # (treedef, shapes, dtypes) of the last batch that passed checks
        self.clear()

    def clear(self) -> None:
        """Forget all rows (the allocated arrays are kept)."""
        self.position = 0
        self.size = 0

    def add(self, batch: TransitionBatch) -> np.ndarray:
        """Write the ``B`` rows of ``batch``; return the ``(B',)`` int indices written.

        When ``B > capacity`` only the last ``capacity`` rows are kept (``B' = capacity``).
        """
        batch = strip(batch)
        leaves, treedef = jax.tree_util.tree_flatten(batch)
        leaves = [x if isinstance(x, np.ndarray) else np.asarray(x) for x in leaves]
        if self.data is None:
            self._leaves = [np.zeros((self.capacity, *x.shape[1:]), x.dtype) for x in leaves]
            self._treedef = treedef
            self.data = treedef.unflatten(self._leaves)
            self._signature = _signature(treedef, self._leaves)
        # fast path: the very shapes and dtypes of the last accepted batch skip the checks
        key = (treedef, tuple(x.shape for x in leaves), tuple(x.dtype for x in leaves))
        size = batch.A.shape[0]
        if key != self._accepted:
            # the same structure, row shapes and dtype kinds as stored, one leading size
            if (_signature(treedef, leaves) != self._signature
                    or any(np.shape(x)[:1] != (size,) for x in leaves)):
                size = check_rows(self.data, batch)  # raises, naming the field
            self._accepted = key
        keep = min(size, self.capacity)
        start = self.position
        if start + keep <= self.capacity:  # contiguous: slice assignment, no index array
            where = slice(start, start + keep)
            idx = np.arange(start, start + keep)
        else:
            where = idx = (start + np.arange(keep)) % self.capacity
        for store, x in zip(self._leaves, leaves):
            store[where] = x[size - keep:] if keep < size else x
        self.position = (start + keep) % self.capacity
        self.size = min(self.size + keep, self.capacity)
        return idx

    def gather(self, idx: np.ndarray, W: np.ndarray) -> TransitionBatch:
        """Rows ``idx`` (one vectorised gather per leaf), with weights ``W`` attached."""
        # ndarray.take is a few times cheaper than x[idx] for small batches
        rows = self._treedef.unflatten([x.take(idx, axis=0) for x in self._leaves])
        return rows._replace(W=np.asarray(W, np.float32), idx=np.asarray(idx, np.int32))

    def check_sample_size(self, batch_size) -> int:
        """Validate ``batch_size`` against the number of stored rows."""
        batch_size = check_positive_int("batch_size", batch_size)
        if self.size == 0:
            raise ValueError("cannot sample from an empty buffer; add transitions first")
        if batch_size > self.size:
            raise ValueError(f"batch_size must be at most len(buffer)={self.size}, "
                             f"got {batch_size}")
        return batch_size
