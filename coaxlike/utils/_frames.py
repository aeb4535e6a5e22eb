"""Frame differences for stacked frames (coax's ``diff_transform``)."""
import math

import jax.numpy as jnp
import numpy as np

from .._checks import check_int

__all__ = ["diff_transform", "diff_transform_matrix"]


def diff_transform_matrix(num_frames, dtype="float32"):
    """The matrix :math:`M` that turns ``num_frames`` stacked frames into finite differences.

    With the frames :math:`x_0, \\dots, x_{n-1}` in chronological order on the last axis,
    column :math:`j` of :math:`X M` is the backward difference of order :math:`k = n - 1 - j`
    at the newest frame, :math:`\\Delta^k x_{n-1} = \\sum_m (-1)^m \\binom{k}{m} x_{n-1-m}`:
    the last column is :math:`x_{n-1}` itself ("position"), the one before it
    :math:`x_{n-1} - x_{n-2}` ("velocity"), then the second difference ("acceleration"), and
    so on. In formulas, :math:`M_{ij} = (-1)^{n-1-i} \\binom{n-1-j}{n-1-i}`, zero for
    :math:`i > j`.

    Args:
        num_frames: positive int :math:`n`.
        dtype: the dtype of the result.

    Returns:
        ``(num_frames, num_frames)`` numpy array.

    Raises:
        TypeError: if ``num_frames`` is not an int.
        ValueError: if ``num_frames`` < 1.

    Examples:
        >>> from coaxlike.utils import diff_transform_matrix
        >>> diff_transform_matrix(3, dtype=int)
        array([[ 1,  0,  0],
               [-2, -1,  0],
               [ 1,  1,  1]])
    """
    n = check_int(num_frames, "num_frames", 1)
    m = [[(-1) ** (n - 1 - i) * math.comb(n - 1 - j, n - 1 - i) for j in range(n)]
         for i in range(n)]
    return np.asarray(m, dtype=dtype)


def diff_transform(X, dtype="float32"):
    """Mix stacked frames (last axis) into position, velocity, acceleration, ...

    ``X @ diff_transform_matrix(X.shape[-1])``: the shape is unchanged. Use it as the first
    layer of a network over frame stacks (e.g. in ``hk.Sequential``).

    Args:
        X: array ``(..., num_frames)``, frames in chronological order on the last axis.
        dtype: the computation and output dtype (default float32).

    Returns:
        JAX array of the same shape as ``X``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.utils import diff_transform
        >>> diff_transform(jnp.array([[2.0, 5.0, 9.0]])).tolist()   # x0, x1, x2
        [[1.0, 4.0, 9.0]]
    """
    X = jnp.asarray(X, dtype)
    return X @ jnp.asarray(diff_transform_matrix(X.shape[-1], dtype=dtype))
