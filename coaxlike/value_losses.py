r"""Loss functions for regressing a value function onto its TD targets.

Every loss has coax's signature ``loss(y_true, y_pred, w=None) -> scalar``: an elementwise
loss :math:`\ell(y_i, \hat y_i)` averaged over the leading (batch) axis, optionally weighted
by per-example weights :math:`w_i` (e.g. prioritized-replay importance weights):

.. math::

    L = \frac{1}{N} \sum_{i} w_i\, \ell(y_i, \hat y_i)

where :math:`N` is the number of elements (``w`` is broadcast along the trailing axes of the
elementwise loss). Without ``w`` every weight is 1. A TD learner takes any of these as its
``loss_function=`` and calls it as ``loss_function(G, q(s_t, a_t), W)``.

The losses are pure functions of arrays: they work inside :func:`jax.jit`, :func:`jax.vmap`,
:func:`jax.grad` and :func:`jax.lax.scan`.
"""
import jax
import jax.numpy as jnp
import optax

__all__ = ["mse", "huber", "logloss", "logloss_sign"]


def _weighted_mean(loss, w):
    """``mean(w * loss)`` with ``w`` ``(B,)`` broadcast along the trailing axes of ``loss``."""
    if w is None:
        return jnp.mean(loss)
    w = jnp.asarray(w, loss.dtype)
    if w.ndim != 1 or loss.ndim < 1 or w.shape[0] != loss.shape[0]:
        raise ValueError("w must be a 1-d array of one weight per example, shape "
                         f"({loss.shape[0] if loss.ndim else '?'},), got shape {w.shape}")
    return jnp.mean(loss * jnp.reshape(w, w.shape + (1,) * (loss.ndim - 1)))


def mse(y_true, y_pred, w=None):
    r"""Half mean-squared error.

    .. math:: \ell(y, \hat y) = \tfrac12 (\hat y - y)^2

    Its negative gradient with respect to :math:`\hat y_i` (times :math:`N`) is the plain TD
    error :math:`y_i - \hat y_i`.

    Args:
        y_true: float array ``(B, ...)``, the targets :math:`y`.
        y_pred: float array of the same shape, the predictions :math:`\hat y`.
        w: optional float ``(B,)``, per-example weights.

    Returns:
        float scalar, the (weighted) mean over all elements.

    Raises:
        ValueError: ``w`` is not ``(B,)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.value_losses import mse
        >>> float(mse(jnp.array([0., 0.]), jnp.array([1., 3.])))  # (0.5 + 4.5) / 2
        2.5
        >>> float(mse(jnp.array([0., 0.]), jnp.array([1., 3.]), w=jnp.array([2., 0.])))
        0.5
    """
    return _weighted_mean(optax.l2_loss(y_pred, y_true), w)


def huber(y_true, y_pred, w=None, delta=1.0):
    r"""Huber loss: quadratic for small errors, linear beyond ``delta``.

    .. math::

        \ell(y, \hat y) = \begin{cases}
            \tfrac12 (\hat y - y)^2 & |\hat y - y| \le \delta \\
            \delta\, |\hat y - y| - \tfrac12 \delta^2 & \text{otherwise}
        \end{cases}

    The default loss of every TD learner (``delta = 1``).

    Args:
        y_true: float array ``(B, ...)``, the targets :math:`y`.
        y_pred: float array of the same shape, the predictions :math:`\hat y`.
        w: optional float ``(B,)``, per-example weights.
        delta: positive float :math:`\delta`, where the loss turns linear.

    Returns:
        float scalar, the (weighted) mean over all elements.

    Raises:
        ValueError: ``w`` is not ``(B,)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.value_losses import huber
        >>> float(huber(jnp.array([0., 0.]), jnp.array([0.5, 3.])))  # (0.125 + 2.5) / 2
        1.3125
        >>> float(huber(jnp.array([0.]), jnp.array([3.]), delta=2.0))  # 2 * 3 - 2
        4.0
    """
    return _weighted_mean(optax.huber_loss(y_pred, y_true, delta=delta), w)


def logloss(y_true, y_pred, w=None):
    r"""Binary cross-entropy of a predicted probability.

    .. math:: \ell(y, \hat y) = -y \log \hat y - (1 - y) \log (1 - \hat y)

    for targets :math:`y \in [0, 1]` and predicted probabilities :math:`\hat y \in [0, 1]`.
    A term whose factor is 0 counts 0 (so :math:`y = 1, \hat y = 1` gives exactly 0, not
    NaN); a confident wrong prediction gives ``inf``.

    Args:
        y_true: float array ``(B, ...)``, the targets (usually 0 or 1).
        y_pred: float array of the same shape, predicted probabilities.
        w: optional float ``(B,)``, per-example weights.

    Returns:
        float scalar, the (weighted) mean over all elements.

    Raises:
        ValueError: ``w`` is not ``(B,)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.value_losses import logloss
        >>> round(float(logloss(jnp.array([1., 0.]), jnp.array([0.5, 0.5]))), 4)  # log 2
        0.6931
        >>> float(logloss(jnp.array([1.]), jnp.array([1.])))
        0.0
    """
    y_true = jnp.asarray(y_true, jnp.result_type(y_pred))
    xlogy = jax.scipy.special.xlogy
    return _weighted_mean(0.0 - (xlogy(y_true, y_pred) + xlogy(1 - y_true, 1 - y_pred)), w)


def logloss_sign(y_true_sign, logits, w=None):
    r"""Logistic loss for a target sign :math:`y \in \{-1, 1\}` and a predicted logit.

    .. math:: \ell(y, z) = \log\big(1 + \exp(-y\, z)\big)

    computed as :func:`jax.nn.softplus` of :math:`-y z`, which stays finite and accurate
    for large logits of either sign.

    Args:
        y_true_sign: float array ``(B, ...)``, the target signs :math:`\pm 1`.
        logits: float array of the same shape, the predicted logits :math:`z`.
        w: optional float ``(B,)``, per-example weights.

    Returns:
        float scalar, the (weighted) mean over all elements.

    Raises:
        ValueError: ``w`` is not ``(B,)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.value_losses import logloss_sign
        >>> round(float(logloss_sign(jnp.array([1., -1.]), jnp.array([0., 0.]))), 4)  # log 2
        0.6931
        >>> float(logloss_sign(jnp.array([-1.]), jnp.array([200.])))  # softplus(200)
        200.0
    """
    logits = jnp.asarray(logits)
    return _weighted_mean(jax.nn.softplus(-jnp.asarray(y_true_sign, logits.dtype) * logits), w)
