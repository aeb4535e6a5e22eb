r"""Value transforms: invertible squashing functions for the values a network learns.

A Q-function built with ``value_transform=h`` learns :math:`h(q)` instead of :math:`q`:
its network outputs transformed values, ``q(s)`` returns :math:`h^{-1}` of them, and the
learners build targets in the transformed space,

.. math::

    G = h\big(R^{(n)}_t + I^{(n)}_t\, h^{-1}(q_\text{targ}(s_{t+K}, a^*))\big),

so that large returns do not dominate the loss (Pohlen et al., 2018; Kapturowski et al.,
2019). A transform is a pair of pure, elementwise, strictly increasing functions
``(transform_func, inverse_func)``; both work on any array shape and inside
:func:`jax.jit`, :func:`jax.vmap` and :func:`jax.lax.scan`.

Examples:
    >>> import jax.numpy as jnp
    >>> from coaxlike.value_transforms import SignedHyperbolic
    >>> h = SignedHyperbolic(eps=1e-3)
    >>> x = jnp.array([-100., 0., 3.])
    >>> bool(jnp.allclose(h.inverse_func(h.transform_func(x)), x, rtol=1e-5))
    True
"""
import functools
import math

import jax.numpy as jnp

from ._checks import as_real

__all__ = ["ValueTransform", "LogTransform", "SignedHyperbolic", "log_transform",
           "log_transform_inverse", "signed_hyperbolic", "signed_hyperbolic_inverse"]


# --- pure functions -------------------------------------------------------------------------

def log_transform(x, scale=1.0):
    r"""The signed log transform :math:`h(x) = \lambda\,\mathrm{sign}(x)\log(1 + |x|/\lambda)`.

    Args:
        x: float array, any shape.
        scale: positive :math:`\lambda`, where linear turns logarithmic.

    Returns:
        float array, the shape of ``x``.

    Examples:
        >>> from coaxlike.value_transforms import log_transform
        >>> round(float(log_transform(-9.0, scale=1.0)), 4)
        -2.3026
    """
    x = jnp.asarray(x)
    return jnp.sign(x) * scale * jnp.log1p(jnp.abs(x) / scale)


def log_transform_inverse(y, scale=1.0):
    r"""The inverse of :func:`log_transform`: :math:`\lambda\,\mathrm{sign}(y)(e^{|y|/\lambda}
    - 1)`.

    Args:
        y: float array, any shape.
        scale: positive :math:`\lambda`.

    Returns:
        float array, the shape of ``y``.

    Examples:
        >>> from coaxlike.value_transforms import log_transform_inverse
        >>> round(float(log_transform_inverse(2.302585, scale=1.0)), 4)
        9.0
    """
    y = jnp.asarray(y)
    return jnp.sign(y) * scale * jnp.expm1(jnp.abs(y) / scale)


def signed_hyperbolic(x, eps=1e-3):
    r"""R2D2's transform :math:`h(x) = \mathrm{sign}(x)(\sqrt{|x| + 1} - 1) + \varepsilon x`.

    Args:
        x: float array, any shape.
        eps: non-negative :math:`\varepsilon` (the linear term that keeps :math:`h^{-1}`
            Lipschitz).

    Returns:
        float array, the shape of ``x``.

    Examples:
        >>> from coaxlike.value_transforms import signed_hyperbolic
        >>> float(signed_hyperbolic(8.0, eps=0.0))
        2.0
    """
    x = jnp.asarray(x)
    return jnp.sign(x) * (jnp.sqrt(jnp.abs(x) + 1) - 1) + eps * x


def signed_hyperbolic_inverse(y, eps=1e-3):
    r"""The inverse of :func:`signed_hyperbolic`,

    .. math::

        h^{-1}(y) = \mathrm{sign}(y)\left(\left(\frac{\sqrt{1 + 4\varepsilon(|y| + 1 +
        \varepsilon)} - 1}{2\varepsilon}\right)^2 - 1\right)

    (:math:`\mathrm{sign}(y)((|y| + 1)^2 - 1)` for :math:`\varepsilon = 0`).

    Args:
        y: float array, any shape.
        eps: non-negative :math:`\varepsilon`.

    Returns:
        float array, the shape of ``y``.

    Examples:
        >>> from coaxlike.value_transforms import signed_hyperbolic_inverse
        >>> float(signed_hyperbolic_inverse(2.0, eps=0.0))
        8.0
    """
    y = jnp.asarray(y)
    a = jnp.abs(y)
    if eps == 0:
        return jnp.sign(y) * ((a + 1) ** 2 - 1)
    # (sqrt(1 + 4 eps (a + 1 + eps)) - 1) / (2 eps), written as 2 (a + 1 + eps) / (sqrt(..) + 1)
    # to avoid cancellation for small eps * a
    root = 2 * (a + 1 + eps) / (jnp.sqrt(1 + 4 * eps * (a + 1 + eps)) + 1)
    return jnp.sign(y) * (root ** 2 - 1)


# --- the pairs ------------------------------------------------------------------------------

class ValueTransform:
    r"""An invertible value transform: a pair ``(transform_func, inverse_func)``.

    Iterating gives the pair, so ``f, f_inv = value_transform`` works (as in coax), and a
    plain pair of functions is accepted wherever a ``ValueTransform`` is.

    Args:
        transform_func: pure elementwise :math:`x \mapsto h(x)`, strictly increasing.
        inverse_func: pure elementwise :math:`y \mapsto h^{-1}(y)`.

    Raises:
        TypeError: either function is not callable.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.value_transforms import ValueTransform
        >>> double = ValueTransform(lambda x: 2 * x, lambda y: y / 2)
        >>> f, f_inv = double
        >>> float(f_inv(f(jnp.float32(3.0))))
        3.0
    """

    __slots__ = ("_transform_func", "_inverse_func")

    def __init__(self, transform_func, inverse_func):
        for name, fn in (("transform_func", transform_func), ("inverse_func", inverse_func)):
            if not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        self._transform_func = transform_func
        self._inverse_func = inverse_func

    @property
    def transform_func(self):
        """The transform :math:`x \\mapsto h(x)` (pure, elementwise)."""
        return self._transform_func

    @property
    def inverse_func(self):
        """The inverse :math:`y \\mapsto h^{-1}(y)` (pure, elementwise)."""
        return self._inverse_func

    def __iter__(self):
        return iter((self._transform_func, self._inverse_func))

    def __repr__(self):
        return f"ValueTransform({self._transform_func!r}, {self._inverse_func!r})"


class LogTransform(ValueTransform):
    r"""coax's signed log transform, :func:`log_transform` and its inverse.

    .. math::

        h(x) = \lambda\,\mathrm{sign}(x)\log\left(1 + \frac{|x|}{\lambda}\right), \qquad
        h^{-1}(y) = \lambda\,\mathrm{sign}(y)\left(e^{|y|/\lambda} - 1\right)

    The identity for :math:`|x| \ll \lambda`, logarithmic for :math:`|x| \gg \lambda`.

    Args:
        scale: positive finite :math:`\lambda`.

    Raises:
        TypeError: ``scale`` not a real number.
        ValueError: ``scale`` not finite and positive.

    Examples:
        >>> from coaxlike.value_transforms import LogTransform
        >>> h = LogTransform(scale=2.0)
        >>> round(float(h.inverse_func(h.transform_func(50.0))), 3)
        50.0
    """

    __slots__ = ("scale",)

    def __init__(self, scale=1.0):
        self.scale = _check_number(scale, "scale", positive=True)
        super().__init__(functools.partial(log_transform, scale=self.scale),
                         functools.partial(log_transform_inverse, scale=self.scale))

    def __repr__(self):
        return f"LogTransform(scale={self.scale!r})"


class SignedHyperbolic(ValueTransform):
    r"""R2D2's transform (Kapturowski et al., 2019; Pohlen et al., 2018):
    :func:`signed_hyperbolic` and its inverse :func:`signed_hyperbolic_inverse`.

    .. math::

        h(x) = \mathrm{sign}(x)\left(\sqrt{|x| + 1} - 1\right) + \varepsilon x

    Args:
        eps: finite :math:`\varepsilon \ge 0`; R2D2 uses ``1e-3``.

    Raises:
        TypeError: ``eps`` not a real number.
        ValueError: ``eps`` negative or not finite.

    Examples:
        >>> from coaxlike.value_transforms import SignedHyperbolic
        >>> h = SignedHyperbolic()
        >>> round(float(h.transform_func(99.0)), 3)
        9.099
    """

    __slots__ = ("eps",)

    def __init__(self, eps=1e-3):
        self.eps = _check_number(eps, "eps", positive=False)
        super().__init__(functools.partial(signed_hyperbolic, eps=self.eps),
                         functools.partial(signed_hyperbolic_inverse, eps=self.eps))

    def __repr__(self):
        return f"SignedHyperbolic(eps={self.eps!r})"


def _check_number(value, name, positive):
    want = "a finite float > 0" if positive else "a finite float >= 0"
    x = as_real(value, name, want)
    if not math.isfinite(x) or (x <= 0 if positive else x < 0):
        raise ValueError(f"{name} must be {want}, got {value!r}")
    return x
