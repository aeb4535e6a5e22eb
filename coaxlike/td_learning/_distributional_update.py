r"""The pure core of TD learners on a :class:`~coaxlike.StochasticQ`.

The learner shells (:class:`~coaxlike.td_learning.TDLearner`) build these functions instead
of the ones in :mod:`coaxlike.td_learning._update` when ``q`` is a ``StochasticQ``; the
:class:`~coaxlike.td_learning.LearnerState`, the shell, the metrics and serialization stay
the same. Targets are n-step, :math:`G = R^{(n)}_t + I^{(n)}_t\, Z(s_{t+K}, a')`, the next
action chosen by the learner's rule on network-space means (masks respected; a state with
no legal action bootstraps nothing). The loss is the cross-entropy to the projected target
(categorical) or the quantile Huber loss (quantile), weighted by ``W`` and averaged over the
batch; the TD error is the difference of the target's and the prediction's network-space
means.
"""
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from ._distributional import categorical_target, quantile_huber_loss, quantile_target
from ._update import _apply, _metrics, _pi_probs, _split, _target_net

__all__ = []  # private module

HUBER_PARAM = 1.0  # kappa of the quantile Huber loss


class _DistSpec(NamedTuple):
    """Static configuration of a distributional learner."""

    function_type2: Callable
    preprocess: Callable
    action_start: int
    n_actions: int
    rule: str  # "greedy", "double", "expected" or "sarsa"
    kind: str  # "categorical" or "quantile"
    atoms: Any  # numpy (K,) or None
    transform: Callable
    inverse: Callable
    pi_logits: Any
    pi_hp_name: Any
    pi_source: Any
    optimizer: Any
    uses_rng: bool = True


def make_spec(q, rule, pi_targ, pi_source, optimizer, uses_rng):
    """The :class:`_DistSpec` of a learner on ``q`` (a type-1 or type-2 StochasticQ)."""
    return _DistSpec(
        function_type2=q.function_type2, preprocess=q.observation_preprocessor,
        action_start=q.action_start, n_actions=q.n_actions, rule=rule, kind=q.kind,
        atoms=q.atoms, transform=q._transform, inverse=q._inverse,
        pi_logits=None if pi_targ is None else pi_targ.logits_func,
        pi_hp_name=None if pi_targ is None else pi_targ._hp_name, pi_source=pi_source,
        optimizer=optimizer, uses_rng=uses_rng)


def _means(spec, dist_params):
    if spec.kind == "categorical":
        return jax.nn.softmax(dist_params["logits"], axis=-1) @ spec.atoms
    return jnp.mean(dist_params["values"], axis=-1)


def _weights(spec, ls, rng, tb, S, dist_t):
    """Next-action weights ``(B, n)`` and whether any action is legal ``(B,)``."""
    n = spec.n_actions
    mask = (jnp.ones((tb.Rn.shape[0], n), bool) if tb.mask_next is None
            else jnp.asarray(tb.mask_next, bool))
    legal = jnp.any(mask, axis=-1)
    if spec.rule == "expected":
        return _pi_probs(spec, ls, rng, S, tb.mask_next), legal
    if spec.rule == "sarsa":
        return jax.nn.one_hot(jnp.asarray(tb.A_next) - spec.action_start, n), legal
    if spec.rule == "double":
        dist_sel, _ = spec.function_type2(ls.params, ls.function_state, rng, S, False)
        selector = _means(spec, dist_sel)
    else:
        selector = _means(spec, dist_t)
    a_next = jnp.argmax(jnp.where(mask, selector, -jnp.inf), axis=-1)
    return jax.nn.one_hot(a_next, n), legal


def _target(spec, ls, rng, tb):
    """Per-example targets under ``stop_gradient``: categorical ``m (B, K)``, quantile
    ``(y (B, M), w (B, M))``."""
    rng_t, rng_w = _split(spec, rng, 2)
    S = spec.preprocess(tb.S_next)
    dist_t, _ = spec.function_type2(*_target_net(ls), rng_t, S, False)
    weights, legal = _weights(spec, ls, rng_w, tb, S, dist_t)
    discount = jnp.where(legal, tb.In, 0.0)
    if spec.kind == "categorical":
        probs = jax.nn.softmax(dist_t["logits"], axis=-1)
        target = jax.vmap(categorical_target, (0, 0, 0, 0, None, None, None))(
            probs, weights, tb.Rn, discount, spec.atoms, spec.transform, spec.inverse)
    elif spec.rule == "expected":  # a mixture over actions: every action's quantiles
        target = jax.vmap(quantile_target, (0, 0, 0, 0, None, None))(
            dist_t["values"], weights, tb.Rn, discount, spec.transform, spec.inverse)
    else:  # one next action: its K quantiles
        values = jnp.einsum("bak,ba->bk", dist_t["values"], weights)[:, None, :]
        target = jax.vmap(quantile_target, (0, None, 0, 0, None, None))(
            values, jnp.ones(1, values.dtype), tb.Rn, discount, spec.transform, spec.inverse)
    return jax.lax.stop_gradient(target)


def _pred(spec, params, state, rng, tb, is_training):
    """The distribution parameters at ``(s_t, a_t)``, leaves ``(B, K)``, and the new state."""
    dist, state = spec.function_type2(params, state, rng, spec.preprocess(tb.S), is_training)
    a = jnp.asarray(tb.A) - spec.action_start
    return jax.tree_util.tree_map(
        lambda x: jnp.take_along_axis(x, a[:, None, None], axis=1)[:, 0], dist), state


def _losses_and_td(spec, dist, target):
    """Per-example losses ``(B,)`` and TD errors (network-space means) ``(B,)``."""
    if spec.kind == "categorical":
        logp = jax.nn.log_softmax(dist["logits"], axis=-1)
        losses = -jnp.sum(target * logp, axis=-1)
        td = target @ spec.atoms - jnp.exp(logp) @ spec.atoms
        return losses, td
    y, w = target
    losses = jax.vmap(quantile_huber_loss, (0, 0, 0, 0, None))(
        dist["values"], dist["quantile_fractions"], y, w, HUBER_PARAM)
    td = jnp.sum(y * w, axis=-1) - jnp.mean(dist["values"], axis=-1)
    return losses, td


def grads_and_metrics(spec, learner_state, transition_batch, rng):
    """Pure: ``(grads, new_function_state, metrics)``, as for a plain Q-function."""
    ls, tb = learner_state, transition_batch
    rng_t, rng_q = _split(spec, rng, 2)
    target = _target(spec, ls, rng_t, tb)

    def loss_fn(params):
        dist, state = _pred(spec, params, ls.function_state, rng_q, tb, True)
        losses, td = _losses_and_td(spec, dist, target)
        return jnp.mean(jnp.asarray(tb.W, losses.dtype) * losses), (td, state)

    (loss, (td, state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(ls.params)
    return grads, state, _metrics(loss, td, grads)


def update_func(spec, learner_state, transition_batch, rng):
    """Pure: ``(new_learner_state, metrics)``."""
    grads, state, metrics = grads_and_metrics(spec, learner_state, transition_batch, rng)
    return _apply(spec.optimizer, learner_state, grads, state), metrics


def td_error_func(spec, learner_state, transition_batch, rng):
    """Pure: TD errors ``(B,)``, the target's minus the prediction's network-space mean."""
    rng_t, rng_q = _split(spec, rng, 2)
    target = _target(spec, learner_state, rng_t, transition_batch)
    dist, _ = _pred(spec, learner_state.params, learner_state.function_state, rng_q,
                    transition_batch, False)
    return _losses_and_td(spec, dist, target)[1]


def distributional_learner(learner, q, pi_targ, pi_source, loss_function, uses_rng):
    """The spec and pure ``(grads_and_metrics, update_func, td_error_func)`` of ``learner``
    on the StochasticQ ``q``; raises for what distributional learning does not support."""
    name = type(learner).__name__
    rule = type(learner)._distributional
    if rule is None:
        raise TypeError(f"{name} does not support a StochasticQ; use QLearning, "
                        "DoubleQLearning, ExpectedSarsa or Sarsa")
    if q.n_actions is None:
        raise TypeError(f"{name} on a StochasticQ needs a Discrete action space, got "
                        f"{q.action_space!r}")
    if loss_function is not None:
        raise TypeError(f"loss_function must be None for a StochasticQ (the loss is the "
                        f"{'cross-entropy to the projected target' if q.kind == 'categorical' else 'quantile Huber loss'}"
                        f"), got {loss_function!r}")
    if learner.off_policy_correction is not None:
        raise ValueError(f"off_policy_correction must be None for {name} on a StochasticQ, "
                         f"got {learner.off_policy_correction!r}: Retrace's traces applied to "
                         "return distributions give a signed mixture, not a distribution, "
                         "and the sound distributional operator (path-dependent "
                         "distributional TD errors, Tang et al., 2022) is not implemented; "
                         "learn from n-step targets, or use a coaxlike.Q for Retrace")
    if pi_targ is not None and rule != "expected":
        raise ValueError(f"pi_targ must be None for {name} on a StochasticQ (its target "
                         f"does not read a target policy), got {pi_targ!r}")
    spec = make_spec(q, rule, pi_targ, pi_source, learner.optimizer, uses_rng)
    return spec, (grads_and_metrics, update_func, td_error_func)
