"""A learner's compiled functions: from the Q-function and the learner's rule to the pure
``update_func`` / ``td_error_func`` and the jitted host-side calls, and the target-policy
leaves they read.

:class:`~coaxlike.td_learning.TDLearner` builds them once in ``__init__`` with
:func:`compile_learner`; nothing here keeps state.
"""
import functools
from typing import Any, Callable, NamedTuple

import jax

from .._stochastic_q import StochasticQ
from ._distributional_update import distributional_learner
from ._metrics import _packing_metrics
from ._update import (_guarded, _Spec, _step, _step_from, _td_error_checked,
                      grads_and_metrics, td_error_func)

__all__ = []  # private module


class Compiled(NamedTuple):
    """What a learner calls: the static spec, the pure functions and the jitted calls."""
    spec: Any
    grads_and_metrics: Callable   # (state, batch, rng) -> (grads, function_state, metrics)
    update_func: Callable         # (state, batch, rng) -> (state, metrics), guarded
    td_error_func: Callable       # (state, batch, rng) -> td_error (B,)
    step_func: Callable           # (state, batch, rng) -> (state, metrics, td_error, ok)
    update_jit: Callable          # (state, batch, key) -> ((trees, packed metrics), key)
    update_td_jit: Callable       # the same, with the TD errors
    td_error_jit: Callable        # (state, batch, key) -> ((td_error, ok), key)


def _with_key(fn, uses_rng=True):
    """Jit ``fn(*args, rng)`` as ``(*args, key) -> (out, next_key)``, splitting inside (or,
    when no forward pass draws random numbers, passing ``rng=None`` and the key through)."""
    def wrapped(*args):
        if not uses_rng:
            return fn(*args[:-1], None), args[-1]
        key, subkey = jax.random.split(args[-1])
        return fn(*args[:-1], subkey), key
    return jax.jit(wrapped)


def pi_targ_leaves(pi_targ, source):
    """The ``pi_targ`` field of a :class:`~coaxlike.td_learning.LearnerState` that the
    compiled functions read: the policy's hyperparameter, and with ``source == "own"`` its
    Q-function's params and function state (``None`` without a target policy)."""
    if pi_targ is None:
        return None
    hp = pi_targ._hp_name
    pi = {hp: pi_targ.params[hp]}
    if source == "own":
        pi.update(q=pi_targ.q.params, function_state=pi_targ.q.function_state)
    return pi


def compile_learner(learner, q, pi_targ, pi_source, loss_function) -> Compiled:
    """The functions of ``learner`` (its class attributes give the rule: ``_value_fn``,
    ``_needs_selector``, ...) over ``q`` and the target policy actually used."""
    uses_rng = q.uses_rng or (pi_targ is not None and pi_targ.q.uses_rng)
    if isinstance(q, StochasticQ):  # distributional learning: _distributional_update.py
        spec, (grads_fn, update_fn, td_fn) = distributional_learner(
            learner, q, pi_targ, pi_source, loss_function, uses_rng)
        step = functools.partial(_step_from, update_fn, td_fn)
    else:
        spec = _Spec(
            function_type1=q.function_type1, function_type2=q.function_type2,
            modeltype=q.modeltype, preprocess=q.observation_preprocessor,
            action_preprocessor=q.action_preprocessor, action_start=q.action_start,
            n_actions=q.n_actions, value_fn=learner._value_fn,
            needs_selector=learner._needs_selector, needs_probs=learner._needs_probs,
            pi_logits=None if pi_targ is None else pi_targ.logits_func,
            pi_hp_name=None if pi_targ is None else pi_targ._hp_name,
            pi_source=pi_source, loss_function=learner.loss_function,
            optimizer=learner.optimizer, uses_rng=uses_rng, transform=q._transform,
            inverse=q._inverse, correction=learner.off_policy_correction,
            next_action=learner._next_action)
        grads_fn, td_fn, step = grads_and_metrics, td_error_func, _step
    step_func = functools.partial(step, spec)
    return Compiled(
        spec=spec,
        grads_and_metrics=functools.partial(grads_fn, spec),
        update_func=functools.partial(_guarded, step, spec),
        td_error_func=functools.partial(td_fn, spec),
        # the unguarded pure step, for loops that check their result once at the end (the
        # agents' compiled rounds)
        step_func=step_func,
        update_jit=_with_key(_packing_metrics(step_func, False), spec.uses_rng),
        update_td_jit=_with_key(_packing_metrics(step_func, True), spec.uses_rng),
        td_error_jit=_with_key(functools.partial(_td_error_checked, td_fn, spec),
                               spec.uses_rng))
