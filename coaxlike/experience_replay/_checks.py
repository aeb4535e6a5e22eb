"""Argument and row checks shared by the replay buffers (host side)."""
import os

import jax
import numpy as np

from .._checks import check_int
from ..reward_tracing import TransitionBatch

__all__ = []  # private module


def check_positive_int(name, value) -> int:
    """Return ``value`` as an int >= 1: ``TypeError`` naming it unless an int, ``ValueError``
    if < 1."""
    return check_int(value, name, 1)


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
    size = np.shape(batch.A)[0] if np.ndim(batch.A) else None
    if size is None:
        raise ValueError(f"field 'A' must have a leading batch axis, got shape "
                         f"{np.shape(batch.A)}")
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
            if np.shape(y)[1:] != np.shape(x)[1:]:
                raise ValueError(f"field {where!r} has rows of shape {np.shape(y)[1:]}, but the "
                                 f"buffer stores rows of shape {np.shape(x)[1:]}")
            kinds = {_dtype(y).kind, _dtype(x).kind}
            if len(kinds) > 1 and not kinds <= set("iu"):
                raise ValueError(f"field {where!r} has dtype {_dtype(y)}, but the buffer "
                                 f"stores {_dtype(x)}")
    return size


def check_fits(name: str, x: np.ndarray, dtype: np.dtype) -> None:
    """Raise ``ValueError`` naming field ``name`` unless integers ``x`` fit in ``dtype``."""
    if x.size == 0:
        return
    info = np.iinfo(dtype)
    low, high = x.min(), x.max()
    if low < info.min or high > info.max:
        raise ValueError(f"field {name!r} holds values in [{low}, {high}], which do not fit "
                         f"the stored dtype {np.dtype(dtype)} (range [{info.min}, {info.max}]); "
                         f"the buffer's dtypes are fixed by its first batch")


#: the fewest bytes a stored transition can take (A, Rn, In, logP: a few scalars each)
MIN_ROW_BYTES = 16


def require_memory(capacity: int, need: int, what: str) -> None:
    """Raise ``MemoryError`` naming ``capacity`` unless ``need`` bytes are available."""
    have = available_memory()
    if need > have:
        raise MemoryError(
            f"capacity={capacity} needs {need / 2**30:.2f} GiB ({what}: "
            f"{need / capacity:.0f} bytes per transition), but only {have / 2**30:.2f} GiB "
            f"of memory is available; lower the capacity")


def available_memory() -> int:
    """Bytes of memory available to a new allocation (Linux: MemAvailable)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def _dtype(x) -> np.dtype:
    return np.dtype(x.dtype) if hasattr(x, "dtype") else np.result_type(x)
