r"""Pure distributional TD maths: the categorical projection (C51) and the quantile Huber
loss (QR-DQN), written for one example and batched with :func:`jax.vmap`.

Naming follows :mod:`coaxlike.td_learning._targets`: ``r_t`` the n-step reward, ``discount_t``
the bootstrap factor, ``*_t`` quantities at the state we bootstrap from. ``weights_t``
``(n_actions,)`` says which next actions the target averages over: one-hot for Q-learning,
double Q-learning and SARSA, the target policy's probabilities for expected SARSA. A value
transform :math:`h` maps every atom through the untransformed space:
:math:`\mathcal{T}z = h(r_t + \text{discount}_t\, h^{-1}(z))`.
"""
import jax
import jax.numpy as jnp

__all__ = ["categorical_projection", "categorical_target", "quantile_huber_loss",
           "quantile_target"]


def _identity(x):
    return x


def categorical_projection(z, probs, atoms):
    r"""Project a distribution with support ``z`` and probabilities ``probs`` onto the evenly
    spaced ``atoms`` (Bellemare et al., 2017):

    .. math::

        m_i = \sum_j p_j \left[1 - \frac{|\mathrm{clip}(z_j, z_0, z_{K-1}) - z_i|}{\Delta z}
              \right]_0^1, \qquad \Delta z = z_1 - z_0

    (the Cramér-distance projection; mass beyond the ends goes to the end atoms).

    Args:
        z: float ``(M,)`` source support.
        probs: float ``(M,)`` source probabilities.
        atoms: float ``(K,)`` evenly spaced increasing target support, ``K >= 2``.

    Returns:
        float ``(K,)`` probabilities, summing to ``sum(probs)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.td_learning import categorical_projection
        >>> categorical_projection(jnp.array([0.25, 9.]), jnp.array([0.5, 0.5]),
        ...                        jnp.array([0., 1., 2.])).tolist()
        [0.375, 0.125, 0.5]
    """
    atoms = jnp.asarray(atoms)
    z = jnp.clip(jnp.asarray(z, atoms.dtype), atoms[0], atoms[-1])
    dz = atoms[1] - atoms[0]
    kernel = jnp.clip(1 - jnp.abs(z[None, :] - atoms[:, None]) / dz, 0, 1)  # (K, M)
    return kernel @ jnp.asarray(probs, atoms.dtype)


def categorical_target(probs_t, weights_t, r_t, discount_t, atoms, transform=_identity,
                       inverse=_identity):
    r"""The projected categorical target :math:`\Phi\,\mathcal{T}` of the mixture
    :math:`\sum_a w_a\, p_t(\cdot|a)`:
    :math:`m = \mathrm{proj}\big(h(r_t + \text{discount}_t\, h^{-1}(z)),\ w^\top p_t\big)`.

    Args:
        probs_t: float ``(n_actions, K)`` next-state probabilities (target network).
        weights_t: float ``(n_actions,)`` action weights (sum 1).
        r_t: float scalar.
        discount_t: float scalar.
        atoms: float ``(K,)`` the support (network space).
        transform, inverse: the value transform :math:`h` and :math:`h^{-1}` (identity by
            default).

    Returns:
        float ``(K,)`` target probabilities.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.td_learning import categorical_target
        >>> atoms = jnp.array([0., 1., 2.])
        >>> categorical_target(jnp.array([[1., 0., 0.], [0., 0., 1.]]), jnp.array([0., 1.]),
        ...                    1.0, 0.5, atoms).tolist()  # 1 + 0.5 * 2 = 2
        [0.0, 0.0, 1.0]
    """
    atoms = jnp.asarray(atoms)
    p = jnp.asarray(weights_t, atoms.dtype) @ jnp.asarray(probs_t, atoms.dtype)
    return categorical_projection(transform(r_t + discount_t * inverse(atoms)), p, atoms)


def quantile_huber_loss(values, fractions, target_values, target_weights=None,
                        huber_param=1.0):
    r"""The quantile Huber loss of predicted quantiles against weighted target samples
    (Dabney et al., 2018):

    .. math::

        L = \sum_i \sum_j w_j\, \big|\hat\tau_i - \mathbb{1}\{\delta_{ij} < 0\}\big|\,
            \mathcal{L}_\kappa(\delta_{ij}), \qquad \delta_{ij} = y_j - \theta_i,

    with :math:`\mathcal{L}_\kappa(\delta) = \delta^2/2` for :math:`|\delta| \le \kappa`,
    :math:`\kappa(|\delta| - \kappa/2)` otherwise, and :math:`\mathcal{L}_0(\delta) =
    |\delta|` (rlax's convention: not divided by :math:`\kappa`). Uniform weights
    :math:`w_j = 1/M` give rlax's ``quantile_regression_loss``.

    Args:
        values: float ``(K,)`` predicted quantiles :math:`\theta`.
        fractions: float ``(K,)`` their fractions :math:`\hat\tau`.
        target_values: float ``(M,)`` target samples :math:`y` (no gradient flows into them).
        target_weights: float ``(M,)`` sample weights :math:`w` (default ``1/M`` each).
        huber_param: :math:`\kappa \ge 0`.

    Returns:
        float scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.td_learning import quantile_huber_loss
        >>> float(quantile_huber_loss(jnp.array([0.]), jnp.array([0.5]), jnp.array([3.])))
        1.25
    """
    target_values = jax.lax.stop_gradient(target_values)
    if target_weights is None:
        target_weights = jnp.full(target_values.shape, 1 / target_values.shape[0],
                                  target_values.dtype)
    delta = target_values[None, :] - values[:, None]  # (K, M)
    below = jax.lax.stop_gradient((delta < 0).astype(delta.dtype))
    weight = jnp.abs(fractions[:, None] - below)
    abs_delta = jnp.abs(delta)
    if huber_param > 0:
        quadratic = jnp.minimum(abs_delta, huber_param)
        loss = 0.5 * quadratic ** 2 + huber_param * (abs_delta - quadratic)
    else:
        loss = abs_delta
    return jnp.sum(weight * loss * jax.lax.stop_gradient(target_weights)[None, :])


def quantile_target(values_t, weights_t, r_t, discount_t, transform=_identity,
                    inverse=_identity):
    r"""Target samples and their weights for :func:`quantile_huber_loss`:
    :math:`y_{aj} = h(r_t + \text{discount}_t\, h^{-1}(\theta_t(a)_j))` with weight
    :math:`w_a / K`, flattened over ``(n_actions, K)``.

    Args:
        values_t: float ``(n_actions, K)`` next-state quantiles (target network).
        weights_t: float ``(n_actions,)`` action weights (sum 1).
        r_t, discount_t: float scalars.
        transform, inverse: the value transform (identity by default).

    Returns:
        ``(target_values, target_weights)``, both float ``(n_actions * K,)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.td_learning import quantile_target
        >>> y, w = quantile_target(jnp.array([[1., 3.]]), jnp.array([1.]), 1.0, 0.5)
        >>> y.tolist(), w.tolist()
        ([1.5, 2.5], [0.5, 0.5])
    """
    values_t = jnp.asarray(values_t)
    y = transform(r_t + discount_t * inverse(values_t))
    w = jnp.broadcast_to(jnp.asarray(weights_t, values_t.dtype)[:, None] / values_t.shape[1],
                         values_t.shape)
    return jnp.ravel(y), jnp.ravel(w)
