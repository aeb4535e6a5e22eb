r"""Pure TD targets, written for one example and batched with :func:`jax.vmap`.

Naming follows rlax: ``r_t`` is the (n-step discounted) reward, ``discount_t`` the bootstrap
factor (:math:`\gamma^K`, or 0 when the episode terminated), ``q_t`` the Q-values
``(n_actions,)`` at the state we bootstrap from, ``mask_t`` its legal actions (bool, ``True``
= allowed, ``None`` = all allowed). Every target has the form

.. math::

    G = r_t + \text{discount}_t\, v(s_t)

with a *state value* :math:`v` that says what the learner believes the target policy does:
:func:`greedy_value` (Q-learning), :func:`double_q_value`, :func:`expected_value` (expected
SARSA), :func:`soft_value` (soft Q-learning); SARSA (:func:`sarsa_target`) bootstraps from the
recorded next action. The ``batched_*`` versions take a leading batch
axis on every argument.

**Masks.** Masked actions are excluded from every max, argmax, expectation and log-sum-exp,
whatever their Q-value. A state with *no* legal action has value 0 (like a terminal state),
so a fully masked row with ``discount_t = 0`` gives the finite target ``r_t``.

All functions are pure and can be used inside :func:`jax.jit`, :func:`jax.vmap` and
:func:`jax.lax.scan`.
"""
import chex
import jax
import jax.numpy as jnp

__all__ = [
    "greedy_value", "double_q_value", "expected_value", "soft_value",
    "q_learning_target", "double_q_learning_target", "sarsa_target", "expected_sarsa_target",
    "soft_q_learning_target", "retrace_target",
    "batched_q_learning_target", "batched_double_q_learning_target", "batched_sarsa_target",
    "batched_expected_sarsa_target", "batched_soft_q_learning_target",
    "batched_retrace_target",
]


def _mask(q_t, mask_t):
    if mask_t is None:
        return jnp.ones(q_t.shape, bool)
    return jnp.broadcast_to(jnp.asarray(mask_t, bool), q_t.shape)


# --- state values ---------------------------------------------------------------------------

def greedy_value(q_t, mask_t=None):
    r"""The greedy state value :math:`\max_{a \in \mathcal{A}} q_t(a)` (0 if no action is legal).

    Args:
        q_t: float ``(n_actions,)``.
        mask_t: optional bool ``(n_actions,)``.

    Returns:
        float scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.td_learning import greedy_value
        >>> float(greedy_value(jnp.array([1., 9., 2.]), jnp.array([True, False, True])))
        2.0
    """
    mask = _mask(q_t, mask_t)
    v = jnp.max(jnp.where(mask, q_t, -jnp.inf))
    return jnp.where(jnp.any(mask), v, 0.0).astype(q_t.dtype)


def double_q_value(q_t_value, q_t_selector, mask_t=None, average_ties=False):
    r"""The double-Q state value :math:`q^\text{value}_t(a^*)`, :math:`a^* = \arg\max_{a \in
    \mathcal{A}} q^\text{selector}_t(a)` (0 if no action is legal).

    Among tied maxima of the selector, :math:`a^*` is the lowest index (as ``jnp.argmax``
    and rlax), or, with ``average_ties=True``, the value is the mean of
    :math:`q^\text{value}_t` over the tied actions (as coax, which evaluates a uniform
    distribution over them).

    Args:
        q_t_value: float ``(n_actions,)``, the values (the target network in van Hasselt's
            double Q-learning).
        q_t_selector: float ``(n_actions,)``, the values that choose the action (the online
            network in van Hasselt's double Q-learning).
        mask_t: optional bool ``(n_actions,)``.
        average_ties: bool, static: average over tied maxima instead of taking the first.

    Returns:
        float scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.td_learning import double_q_value
        >>> float(double_q_value(jnp.array([5., 7.]), jnp.array([1., 0.])))
        5.0
        >>> float(double_q_value(jnp.array([5., 7.]), jnp.array([1., 1.]), average_ties=True))
        6.0
    """
    mask = _mask(q_t_value, mask_t)
    selector = jnp.where(mask, q_t_selector, -jnp.inf)
    if average_ties:
        best = mask & (selector == jnp.max(selector))
        total = jnp.sum(jnp.where(best, q_t_value, 0.0))
        v = total / jnp.maximum(jnp.sum(best), 1).astype(q_t_value.dtype)
    else:
        v = q_t_value[jnp.argmax(selector)]
    return jnp.where(jnp.any(mask), v, 0.0).astype(q_t_value.dtype)


def expected_value(q_t, probs_t):
    r"""The expected value :math:`\sum_a \pi(a|s_t)\, q_t(a)` under the target policy.

    Actions with probability 0 (e.g. masked ones) contribute exactly 0, even when their
    Q-value is infinite. A row of zero probabilities (no legal action) has value 0.

    Args:
        q_t: float ``(n_actions,)``.
        probs_t: float ``(n_actions,)``, the target policy's probabilities at :math:`s_t`.

    Returns:
        float scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.td_learning import expected_value
        >>> float(expected_value(jnp.array([1., 3., 1e30]), jnp.array([0.5, 0.5, 0.])))
        2.0
    """
    probs_t = jnp.asarray(probs_t, q_t.dtype)
    return jnp.sum(jnp.where(probs_t > 0, probs_t * q_t, 0.0))


def soft_value(q_t, temperature, mask_t=None):
    r"""The soft state value :math:`\tau \log \sum_{a \in \mathcal{A}} \exp(q_t(a) / \tau)`
    (0 if no action is legal).

    Args:
        q_t: float ``(n_actions,)``.
        temperature: positive scalar :math:`\tau`.
        mask_t: optional bool ``(n_actions,)``.

    Returns:
        float scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.td_learning import soft_value
        >>> round(float(soft_value(jnp.array([0., 0.]), 1.0)), 4)  # log 2
        0.6931
    """
    mask = _mask(q_t, mask_t)
    tau = jnp.asarray(temperature, q_t.dtype)
    v = tau * jax.nn.logsumexp(jnp.where(mask, q_t / tau, -jnp.inf))
    return jnp.where(jnp.any(mask), v, 0.0).astype(q_t.dtype)


# --- one-example targets --------------------------------------------------------------------

def _bootstrap(r_t, discount_t, v_t):
    chex.assert_rank([r_t, discount_t, v_t], 0)
    return r_t + discount_t * v_t


def q_learning_target(r_t, discount_t, q_t, mask_t=None):
    r"""n-step Q-learning target :math:`r_t + \text{discount}_t \max_{a \in \mathcal{A}} q_t(a)`.

    Args:
        r_t: float scalar, the discounted n-step reward :math:`R^{(n)}`.
        discount_t: float scalar, :math:`\gamma^K` or 0 after termination.
        q_t: float ``(n_actions,)``, target-network values at :math:`s_{t+K}`.
        mask_t: optional bool ``(n_actions,)``, legal actions at :math:`s_{t+K}`.

    Returns:
        float scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.td_learning import q_learning_target
        >>> float(q_learning_target(1.0, 0.5, jnp.array([2., 4.])))
        3.0
    """
    return _bootstrap(r_t, discount_t, greedy_value(q_t, mask_t))


def double_q_learning_target(r_t, discount_t, q_t_value, q_t_selector, mask_t=None):
    r"""Double Q-learning target :math:`r_t + \text{discount}_t\, q^\text{value}_t(\arg\max_a
    q^\text{selector}_t(a))`, the argmax over legal actions (van Hasselt et al., 2016).

    Args:
        r_t: float scalar.
        discount_t: float scalar.
        q_t_value: float ``(n_actions,)``, target-network values.
        q_t_selector: float ``(n_actions,)``, online-network values choosing the action.
        mask_t: optional bool ``(n_actions,)``.

    Returns:
        float scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.td_learning import double_q_learning_target
        >>> float(double_q_learning_target(1.0, 0.5, jnp.array([2., 4.]), jnp.array([1., 0.])))
        2.0
    """
    return _bootstrap(r_t, discount_t, double_q_value(q_t_value, q_t_selector, mask_t))


def sarsa_target(r_t, discount_t, q_t, a_t):
    r"""SARSA target :math:`r_t + \text{discount}_t\, q_t(a_t)`, bootstrapping from the action
    actually taken at the next state (Rummery and Niranjan, 1994).

    Args:
        r_t: float scalar.
        discount_t: float scalar.
        q_t: float ``(n_actions,)``, target-network values at :math:`s_{t+K}`.
        a_t: int scalar, the index (``0 .. n_actions - 1``) of the action taken at
            :math:`s_{t+K}`.

    Returns:
        float scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.td_learning import sarsa_target
        >>> float(sarsa_target(1.0, 0.5, jnp.array([2., 4.]), 0))
        2.0
    """
    chex.assert_rank(a_t, 0)
    return _bootstrap(r_t, discount_t, q_t[a_t])


def expected_sarsa_target(r_t, discount_t, q_t, probs_t):
    r"""Expected SARSA target :math:`r_t + \text{discount}_t \sum_a \pi(a|s_t)\, q_t(a)`.

    Args:
        r_t: float scalar.
        discount_t: float scalar.
        q_t: float ``(n_actions,)``.
        probs_t: float ``(n_actions,)``, target-policy probabilities (0 on masked actions).

    Returns:
        float scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.td_learning import expected_sarsa_target
        >>> float(expected_sarsa_target(1.0, 0.5, jnp.array([2., 4.]), jnp.array([.5, .5])))
        2.5
    """
    return _bootstrap(r_t, discount_t, expected_value(q_t, probs_t))


def soft_q_learning_target(r_t, discount_t, q_t, temperature, mask_t=None):
    r"""Soft Q-learning target :math:`r_t + \text{discount}_t\, \tau \log \sum_{a \in
    \mathcal{A}} \exp(q_t(a) / \tau)` (Haarnoja et al., 2017).

    Args:
        r_t: float scalar.
        discount_t: float scalar.
        q_t: float ``(n_actions,)``.
        temperature: positive scalar :math:`\tau`.
        mask_t: optional bool ``(n_actions,)``.

    Returns:
        float scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.td_learning import soft_q_learning_target
        >>> round(float(soft_q_learning_target(1.0, 0.5, jnp.array([0., 0.]), 1.0)), 4)
        1.3466
    """
    return _bootstrap(r_t, discount_t, soft_value(q_t, temperature, mask_t))


def retrace_target(q_a_seq, v_seq, r_seq, discount_seq, valid_seq, log_pi_seq, log_mu_seq,
                   lambda_):
    r"""Retrace(:math:`\lambda`)-corrected target over a window of ``n`` steps (Munos et al.,
    2016), for the first state-action pair :math:`(s_0, a_0)` of the window.

    .. math::

        G = q(s_0, a_0) + \sum_{k=0}^{n-1} \Big(\prod_{j=1}^{k} \gamma_{j-1}\, c_j\Big)
            \, \text{valid}_k \, \delta_k, \qquad
        \delta_k = r_k + \gamma_k\, v(s_{k+1}) - q(s_k, a_k),

    .. math::

        c_j = \lambda \min\Big(1, \frac{\pi(a_j|s_j)}{\mu(a_j|s_j)}\Big),

    with :math:`\gamma_k` the discount after step :math:`k` (0 after termination), padding
    steps (``valid_k = 0``) contributing nothing, :math:`\pi` the target policy, :math:`\mu`
    the behaviour policy and :math:`v(s) = \sum_a \pi(a|s) q(s, a)` for exact Retrace (a
    learner may pass another state value, e.g. :func:`greedy_value`). :math:`c_0` is never
    used. Special cases: ``n = 1`` or :math:`\lambda = 0` give the one-step target
    :math:`r_0 + \gamma_0 v(s_1)`; with all :math:`c_j = 1` the :math:`q(s_k, a_k)` terms
    telescope to

    .. math::

        G = \sum_{k<K} \Gamma_k r_k + \Gamma_K v(s_K)
            + \sum_{k=1}^{K-1} \Gamma_k \big(v(s_k) - q(s_k, a_k)\big),
        \qquad \Gamma_k = \prod_{j<k} \gamma_j,

    the n-step expected-SARSA target plus corrections that vanish in expectation under
    :math:`a_k \sim \pi`.

    Args:
        q_a_seq: float ``(n,)``, target-network :math:`q(s_k, a_k)`, ``k = 0..n-1``.
        v_seq: float ``(n,)``, state values :math:`v(s_{k+1})`, ``k = 0..n-1``.
        r_seq: float ``(n,)``, rewards :math:`r_k`.
        discount_seq: float ``(n,)``, :math:`\gamma_k` (0 after termination and for padding).
        valid_seq: float ``(n,)``, 1 for real steps, 0 for padding.
        log_pi_seq: float ``(n,)``, :math:`\log \pi(a_k|s_k)` (may be ``-inf``).
        log_mu_seq: float ``(n,)``, behaviour log-propensities :math:`\log \mu(a_k|s_k)`.
        lambda_: scalar in ``[0, 1]``.

    Returns:
        float scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.td_learning import retrace_target
        >>> one = jnp.ones(2)
        >>> float(retrace_target(q_a_seq=jnp.array([0., 2.]), v_seq=jnp.array([2., 5.]),
        ...                      r_seq=one, discount_seq=0.5 * one, valid_seq=one,
        ...                      log_pi_seq=jnp.zeros(2), log_mu_seq=jnp.zeros(2), lambda_=1.0))
        2.75
    """
    chex.assert_rank([q_a_seq, v_seq, r_seq, discount_seq, valid_seq, log_pi_seq,
                      log_mu_seq], 1)
    chex.assert_equal_shape([q_a_seq, v_seq, r_seq, discount_seq, valid_seq, log_pi_seq,
                             log_mu_seq])
    dtype = q_a_seq.dtype
    lambda_ = jnp.asarray(lambda_, dtype)
    c = lambda_ * jnp.minimum(1.0, jnp.exp(log_pi_seq - log_mu_seq)).astype(dtype)
    # weight_k = prod_{j=1}^{k} gamma_{j-1} c_j; weight_0 = 1.
    factors = discount_seq[:-1] * c[1:]
    weights = jnp.cumprod(jnp.concatenate([jnp.ones((1,), dtype), factors]))
    delta = r_seq + discount_seq * v_seq - q_a_seq
    return q_a_seq[0] + jnp.sum(jnp.where(valid_seq > 0, weights * delta, 0.0))


# --- batched versions -----------------------------------------------------------------------

batched_q_learning_target = jax.vmap(q_learning_target)
batched_q_learning_target.__doc__ = """:func:`q_learning_target` over a leading batch axis:
``(B,), (B,), (B, n_actions), (B, n_actions) or None -> (B,)``."""

batched_double_q_learning_target = jax.vmap(double_q_learning_target)
batched_double_q_learning_target.__doc__ = """:func:`double_q_learning_target` over a
leading batch axis: ``(B,), (B,), (B, n_actions), (B, n_actions), mask -> (B,)``."""

batched_sarsa_target = jax.vmap(sarsa_target)
batched_sarsa_target.__doc__ = """:func:`sarsa_target` over a leading batch axis: ``(B,),
(B,), (B, n_actions), (B,) -> (B,)``."""

batched_expected_sarsa_target = jax.vmap(expected_sarsa_target)
batched_expected_sarsa_target.__doc__ = """:func:`expected_sarsa_target` over a leading
batch axis: ``(B,), (B,), (B, n_actions), (B, n_actions) -> (B,)``."""

batched_soft_q_learning_target = jax.vmap(soft_q_learning_target, in_axes=(0, 0, 0, None, 0))
batched_soft_q_learning_target.__doc__ = """:func:`soft_q_learning_target` over a leading
batch axis (the temperature is shared): ``(B,), (B,), (B, n_actions), scalar, mask -> (B,)``."""

batched_retrace_target = jax.vmap(retrace_target, in_axes=(0, 0, 0, 0, 0, 0, 0, None))
batched_retrace_target.__doc__ = """:func:`retrace_target` over a leading batch axis
(``lambda_`` is shared): seven ``(B, n)`` arrays and a scalar ``-> (B,)``."""

