"""coax's ``check_array``: assert a few properties of an array with one call."""
import numpy as np

__all__ = ["check_array"]


def _as_set(x):
    return set(x) if isinstance(x, (list, tuple, set)) else {x}


def check_array(arr, ndim=None, ndim_min=None, ndim_max=None, dtype=None, shape=None,
                axis_size=None, axis=None, except_np=False):
    """Raise ``TypeError`` unless ``arr`` has the given properties.

    Args:
        arr: the array to check.
        ndim: allowed number(s) of dimensions (an int or a collection of ints).
        ndim_min: the least number of dimensions.
        ndim_max: the most number of dimensions.
        dtype: allowed dtype(s).
        shape: the exact shape.
        axis_size: allowed size(s) of axis ``axis`` (checked when both are given).
        axis: the axis whose size ``axis_size`` constrains.
        except_np: accept numpy arrays too; by default only JAX arrays pass.

    Raises:
        TypeError: naming the first property that does not hold.

    Examples:
        >>> import numpy as np
        >>> from coaxlike.utils import check_array
        >>> check_array(np.zeros((1, 3)), ndim=2, axis_size=1, axis=0, except_np=True)
        >>> check_array(np.zeros(3), ndim=2, except_np=True)
        Traceback (most recent call last):
        ...
        TypeError: expected an array with ndim in [2], got ndim 1
    """
    import jax

    kinds = (jax.Array, np.ndarray) if except_np else (jax.Array,)
    if not isinstance(arr, kinds):
        expected = "a JAX or numpy array" if except_np else "a JAX array"
        raise TypeError(f"expected {expected}, got {type(arr).__name__}")
    if ndim is not None and arr.ndim not in _as_set(ndim):
        raise TypeError(f"expected an array with ndim in {sorted(_as_set(ndim))}, got ndim "
                        f"{arr.ndim}")
    if ndim_min is not None and arr.ndim < ndim_min:
        raise TypeError(f"expected an array with ndim >= {ndim_min}, got ndim {arr.ndim}")
    if ndim_max is not None and arr.ndim > ndim_max:
        raise TypeError(f"expected an array with ndim <= {ndim_max}, got ndim {arr.ndim}")
    if dtype is not None and arr.dtype not in {np.dtype(d) for d in _as_set(dtype)}:
        raise TypeError(f"expected an array of dtype in {sorted(map(str, _as_set(dtype)))}, "
                        f"got {arr.dtype}")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise TypeError(f"expected an array of shape {tuple(shape)}, got {arr.shape}")
    if axis_size is not None and axis is not None \
            and arr.shape[axis] not in _as_set(axis_size):
        raise TypeError(f"expected size in {sorted(_as_set(axis_size))} along axis {axis}, "
                        f"got shape {arr.shape}")
