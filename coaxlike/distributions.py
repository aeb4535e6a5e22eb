r"""Pure logits builders for value-based policies, and greedy tie-breaking.

Every function here is pure and works on arrays with any leading shape ``(..., n)``; they
can be used inside :func:`jax.jit`, :func:`jax.vmap` and :func:`jax.lax.scan`. The logits
they return are exact log-probabilities up to an additive constant, so
``jax.nn.log_softmax(logits)[a]`` is the log-propensity of action ``a``.

**Masks.** ``action_mask`` is a bool array broadcastable to ``q_values`` (``True`` =
allowed). Masked actions get logit ``-inf`` (probability exactly 0); the others renormalise.
A row whose mask is all ``False`` has no distribution: its logits are all ``-inf`` and
sampling from it is undefined (the policy classes reject such masks with ``ValueError``).

**Non-finite Q-values.** An *allowed* action whose Q-value is NaN or infinite gets logit
NaN, so the row's log-softmax, every probability and every sampled log-propensity of that
row are NaN: the problem shows up instead of silently becoming some valid-looking
distribution. (Only the bad entries are marked, elementwise: a whole-row mark would cost an
extra reduction kernel on every call.) The policy classes raise ``ValueError`` instead.
"""
import jax
import jax.numpy as jnp

__all__ = ["epsilon_greedy_logits", "boltzmann_logits", "greedy_index"]


def _as_mask(q_values, action_mask):
    q_values = jnp.asarray(q_values)
    if action_mask is None:
        return q_values, jnp.ones(q_values.shape, bool)
    return q_values, jnp.broadcast_to(jnp.asarray(action_mask, bool), q_values.shape)


def _mark_nonfinite(logits, q_values, mask):
    """NaN where an allowed Q-value is not finite (elementwise; see the module docstring)."""
    return jnp.where(mask & ~jnp.isfinite(q_values), jnp.nan, logits)


def _greedy_set(q_values, mask):
    """bool ``(..., n)``: the allowed actions tied for the largest allowed Q-value."""
    q_max = jnp.max(jnp.where(mask, q_values, -jnp.inf), axis=-1, keepdims=True)
    return mask & (q_values == q_max)


def _greedy_set_and_size(q_values, mask):
    """:func:`_greedy_set` and its size ``(..., 1)`` (int32) from ONE reduction.

    A variadic reduction over (value, count) pairs keeps the larger value and adds the counts
    of equal ones: the maximum and how many allowed actions reach it, in one kernel where a
    max and then a sum over the greedy set cost two (~8% of a batch-16384 sampling call).
    Masked actions enter as ``-inf``; rows with NaN give garbage counts, but such rows are
    marked NaN by the callers anyway.
    """
    # piecewise constant in q: no gradient flows here (and lax.reduce with a custom combiner
    # has no differentiation rule)
    values = jax.lax.stop_gradient(jnp.where(mask, q_values, -jnp.inf))

    def combine(a, b):
        top = jnp.maximum(a[0], b[0])
        return top, jnp.where(a[0] == top, a[1], 0) + jnp.where(b[0] == top, b[1], 0)
    init = (jnp.array(-jnp.inf, values.dtype), jnp.int32(0))
    q_max, size = jax.lax.reduce((values, jnp.ones(values.shape, jnp.int32)), init, combine,
                                 (values.ndim - 1,))
    return mask & (q_values == q_max[..., None]), size[..., None]


def epsilon_greedy_logits(q_values, epsilon, action_mask=None):
    r"""Logits of the epsilon-greedy distribution, with ties split evenly.

    With :math:`\mathcal{A}` the allowed actions and
    :math:`\mathcal{G} = \{a \in \mathcal{A}: q(a) = \max_{b \in \mathcal{A}} q(b)\}` the tied
    greedy ones,

    .. math::

        p(a) = \frac{\varepsilon}{|\mathcal{A}|}\,[a \in \mathcal{A}]
             + \frac{1 - \varepsilon}{|\mathcal{G}|}\,[a \in \mathcal{G}],
        \qquad \text{logits} = \log p,

    so ``epsilon = 0`` gives non-greedy actions logit ``-inf`` (probability exactly 0).

    Args:
        q_values: float array ``(..., n)``.
        epsilon: scalar (or array broadcastable to ``(..., 1)``) in ``[0, 1]``.
        action_mask: optional bool array broadcastable to ``(..., n)``.

    Returns:
        float array ``(..., n)`` of log-probabilities (``-inf`` where ``p = 0``; NaN where an
        allowed Q-value is not finite).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from coaxlike.distributions import epsilon_greedy_logits
        >>> p = jnp.exp(epsilon_greedy_logits(jnp.array([1., 3., 3., 0.]), 0.2))
        >>> [round(float(x), 2) for x in p]
        [0.05, 0.45, 0.45, 0.05]
    """
    q_values, mask = _as_mask(q_values, action_mask)
    epsilon = jnp.asarray(epsilon, q_values.dtype)
    greedy, n_greedy = _greedy_set_and_size(q_values, mask)
    n_greedy = n_greedy.astype(q_values.dtype)
    if action_mask is None:
        n_allowed = jnp.asarray(q_values.shape[-1], q_values.dtype)
    else:
        n_allowed = jnp.sum(mask, axis=-1, keepdims=True).astype(q_values.dtype)
    probs = (jnp.where(mask, epsilon / n_allowed, 0.0)
             + jnp.where(greedy, (1.0 - epsilon) / n_greedy, 0.0))
    positive = probs > 0
    logits = jnp.where(positive, jnp.log(jnp.where(positive, probs, 1.0)), -jnp.inf)
    return _mark_nonfinite(logits, q_values, mask)


def boltzmann_logits(q_values, temperature, action_mask=None):
    r"""Logits of the Boltzmann (softmax) distribution: :math:`q(a) / \tau` on allowed actions.

    .. math::

        p(a) = \frac{\exp(q(a)/\tau)\,[a \in \mathcal{A}]}
                    {\sum_{b \in \mathcal{A}} \exp(q(b)/\tau)}

    Args:
        q_values: float array ``(..., n)``.
        temperature: positive scalar (or array broadcastable to ``(..., 1)``).
        action_mask: optional bool array broadcastable to ``(..., n)``.

    Returns:
        float array ``(..., n)``: ``q / temperature`` where allowed, ``-inf`` where masked;
        NaN where an allowed Q-value is not finite.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from coaxlike.distributions import boltzmann_logits
        >>> logits = boltzmann_logits(jnp.array([1., 2., 3.]), 0.5,
        ...                           jnp.array([True, False, True]))
        >>> logits.tolist()
        [2.0, -inf, 6.0]
    """
    q_values, mask = _as_mask(q_values, action_mask)
    logits = jnp.where(mask, q_values / jnp.asarray(temperature, q_values.dtype), -jnp.inf)
    return _mark_nonfinite(logits, q_values, mask)


def greedy_index(q_values, key, action_mask=None):
    """Index of the largest allowed Q-value, ties broken uniformly at random.

    Args:
        q_values: float array ``(..., n)``.
        key: a JAX PRNG key; rows draw independently.
        action_mask: optional bool array broadcastable to ``(..., n)``.

    Returns:
        int32 array ``(...)`` of indices in ``[0, n)``. Rows with non-finite allowed Q-values
        return ``-1``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from coaxlike.distributions import greedy_index
        >>> int(greedy_index(jnp.array([0., 5., 1.]), jax.random.key(0)))
        1
    """
    q_values, mask = _as_mask(q_values, action_mask)
    finite = jnp.all(jnp.isfinite(q_values) | ~mask, axis=-1)
    greedy = _greedy_set(q_values, mask)
    noise = jax.random.uniform(key, q_values.shape)
    index = jnp.argmax(jnp.where(greedy, noise, -1.0), axis=-1).astype(jnp.int32)
    return jnp.where(finite, index, -1)
