"""The coaxlike file format's constants and how a leaf becomes bytes and back.

The byte layout (version 1) is described in :mod:`coaxlike.serialization._file` and, with the
reasons behind it, in ``doc/serialization.rst``. Writing is in ``_file`` (``save``), reading
and its checks in ``_reading``.
"""
import os
import struct
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from coaxlike.serialization._fingerprint import (PYTHON_SCALARS, LeafSpec, is_key,
                                                 python_scalar_dtype)

__all__ = []  # private module

MAGIC = b"CXLK"
VERSION = 1
_DIGEST = 32                                        # bytes in a SHA-256 digest
_LENGTH = struct.Struct("<Q")                       # D and P
_HEAD = _DIGEST + len(MAGIC) + 1 + _LENGTH.size      # fingerprint, magic, version, D: 45 bytes
_MIN_SIZE = _HEAD + _LENGTH.size + _DIGEST           # a file with D = P = 0: 85 bytes
_EXPLAIN_LIMIT = 1 << 24    # a longer saved description is not read to explain a mismatch


def resolve_path(path: str | os.PathLike, suffix: str | None) -> str:
    """``path`` with ``suffix`` appended unless it already ends with it (or suffix is falsy)."""
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"path must be a str or os.PathLike[str], got {path!r}")
    if suffix is not None and not isinstance(suffix, str):
        raise TypeError(f"suffix must be a str or None, got {suffix!r}")
    if not os.path.basename(path):   # "runs/" would silently become the hidden "runs/.cxl"
        raise ValueError(f"path must name a file, got {path!r}, which names a directory "
                         "(ends with a path separator or is empty)")
    return path + suffix if suffix and not path.endswith(suffix) else path


# ---------------------------------------------------------------------------------------------
# Leaves as bytes.

def _little_endian(dtype: np.dtype) -> np.dtype:
    return dtype.newbyteorder("<") if dtype.byteorder in "=>" else dtype


def _stored_layout(spec: LeafSpec, leaf: Any) -> tuple[np.dtype, tuple[int, ...]]:
    """Dtype and shape of the bytes a leaf is stored as (a typed key is stored as its data)."""
    if spec.impl is not None:
        data = jax.eval_shape(jax.random.key_data, leaf)
        return np.dtype(data.dtype), tuple(data.shape)
    dtype = python_scalar_dtype(leaf) if spec.shape == () else None
    return (dtype if dtype is not None else np.dtype(leaf.dtype)), spec.shape


def _to_host(spec: LeafSpec, leaf: Any) -> np.ndarray:
    """The leaf as a little-endian, C-contiguous NumPy array of its stored layout."""
    dtype, _ = _stored_layout(spec, leaf)
    try:
        data = np.asarray(jax.random.key_data(leaf) if spec.impl is not None else leaf, dtype)
    except OverflowError as error:
        raise ValueError(f"leaf {spec.path}: {leaf!r} does not fit in {dtype}") from error
    return np.ascontiguousarray(data, dtype=_little_endian(dtype))


def _leaf_bytes(array: np.ndarray) -> bytes:
    return array.tobytes(order="C")


def _restore(spec: LeafSpec, like: Any, array: np.ndarray) -> Any:
    """A host array as a leaf of the same type as the skeleton's leaf ``like``."""
    if is_key(like):
        return jax.random.wrap_key_data(jnp.asarray(array), impl=spec.impl)
    if isinstance(like, jax.Array):
        return jnp.asarray(array, dtype=like.dtype)
    if isinstance(like, np.ndarray):
        return array.astype(like.dtype, copy=False)
    if isinstance(like, np.generic):
        return array.astype(like.dtype)[()]
    kind = next(kind for kind, _ in PYTHON_SCALARS if isinstance(like, kind))
    return kind(array.item())
