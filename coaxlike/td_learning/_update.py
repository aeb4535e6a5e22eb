r"""The pure core of TD learners: the :class:`LearnerState` pytree and pure functions.

A learner is described by a static ``_Spec`` (its Q-function's forward passes and
preprocessors, its one-example *state value* ``v(q_t, q_t_selector, probs_t, mask_t,
hyperparams)``, the target policy's logits function, the loss and the optimizer). From it
the functions here build

* the plain n-step target :math:`G = R^{(n)} + I^{(n)} v(s_{t+K})` from ``Rn``, ``In`` and
  ``S_next``, used without a target policy or for windows of length ``n = 1``;
* the Retrace(:math:`\lambda`) target (:func:`~coaxlike.td_learning.retrace_target`) over
  ``S_seq``, ``A_seq``, ``R_seq``, ``gamma_seq``, ``valid_seq`` and ``logP_seq``, used when a
  target policy ``pi_targ`` is given and the window is longer than one step;

and the loss, gradients, metrics and optimizer step over a :class:`LearnerState`, so that a
training loop can be compiled whole (``jax.lax.scan``) without the shell.
"""
import numbers
from typing import Any, Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from .._checks import check_unit
from .._transforms import _identity
from ._targets import batched_retrace_target

__all__ = ["LearnerState", "sync_target"]


class LearnerState(NamedTuple):
    """Everything a learner's pure update reads and writes; a pytree.

    Attributes:
        params: the online Q-function's parameters.
        function_state: its haiku function state.
        opt_state: the optax optimizer state.
        target_params: the target network's parameters, ``None`` without ``q_targ`` (then
            the online parameters are the target, under ``stop_gradient``).
        target_function_state: its function state, ``None`` without ``q_targ``.
        pi_targ: ``None`` without a target policy; else ``{hp_name: float32 scalar}``, plus
            ``'q'`` and ``'function_state'`` when the policy's Q-function is neither ``q`` nor
            ``q_targ`` (otherwise it follows the one it shares).
        hyperparams: ``{'lambda_': float32 scalar}`` plus learner-specific ones (e.g.
            ``'temperature'``); arrays, so changing them never recompiles.
    """

    params: Any
    function_state: Any
    opt_state: Any
    target_params: Any
    target_function_state: Any
    pi_targ: Any
    hyperparams: Any


def sync_target(learner_state, tau):
    r"""Move the target network of a :class:`LearnerState` towards the online one (pure).

    For every leaf of ``target_params`` and ``target_function_state``:

    .. math:: \theta_\text{targ} \leftarrow \tau\, \theta + (1 - \tau)\, \theta_\text{targ}

    ``tau = 1`` is a hard copy (exact, whatever the old target values), ``tau = 0`` leaves
    the target unchanged. The result keeps each target leaf's dtype. This is the in-graph
    counterpart of ``q_targ.soft_update(q, tau)``.

    Args:
        learner_state: a :class:`LearnerState` with target fields, i.e. of a learner built
            with ``q_targ``.
        tau: a float in ``[0, 1]`` (checked eagerly when a Python number), or a 0-d array,
            which may be traced: e.g. ``(updates % period == 0).astype(jnp.float32)``
            hard-syncs every ``period`` updates inside ``jax.lax.scan`` without recompiling.

    Returns:
        the :class:`LearnerState` with new ``target_params`` and ``target_function_state``
        (same structure, shapes and dtypes); every other field unchanged.

    Raises:
        TypeError: ``tau`` is not a real number.
        ValueError: ``tau`` is a Python number outside ``[0, 1]``, or ``learner_state`` has
            no target network (``target_params is None``).

    Examples:
        >>> import jax.numpy as jnp
        >>> from coaxlike.td_learning import LearnerState, sync_target
        >>> ls = LearnerState(
        ...     params={"w": jnp.array([1.0, 2.0])}, function_state={}, opt_state=(),
        ...     target_params={"w": jnp.array([3.0, 6.0])}, target_function_state={},
        ...     pi_targ=None, hyperparams={})
        >>> sync_target(ls, 0.25).target_params["w"]  # 0.25 * [1, 2] + 0.75 * [3, 6]
        Array([2.5, 5. ], dtype=float32)
        >>> sync_target(ls, 1.0).target_params["w"]  # hard copy
        Array([1., 2.], dtype=float32)
    """
    if learner_state.target_params is None:
        raise ValueError("learner_state has no target network (target_params is None): "
                         "build the learner with q_targ to have one to sync")
    ls = learner_state
    if isinstance(tau, numbers.Real):  # a Python number: the arithmetic is chosen here
        tau = check_unit(tau, "tau")
        if tau == 0:
            return ls
        if tau == 1:
            return ls._replace(target_params=_cast_like(ls.params, ls.target_params),
                               target_function_state=_cast_like(ls.function_state,
                                                                ls.target_function_state))
    tau = jnp.asarray(tau, jnp.float32)
    chex.assert_rank(tau, 0)

    def mix(online, target):
        mixed = (tau * online + (1 - tau) * target).astype(target.dtype)
        return jnp.where(tau == 1, jnp.asarray(online, target.dtype), mixed)

    return ls._replace(
        target_params=jax.tree_util.tree_map(mix, ls.params, ls.target_params),
        target_function_state=jax.tree_util.tree_map(mix, ls.function_state,
                                                     ls.target_function_state))


def _cast_like(tree, like):
    """``tree``'s leaves in the dtypes of ``like``'s (same structure)."""
    return jax.tree_util.tree_map(lambda x, y: jnp.asarray(x, y.dtype), tree, like)


def _select_tree(pred, on_true, on_false):
    """``jnp.where(pred, a, b)`` leaf by leaf over two trees of one structure.

    A select per leaf rather than ``lax.cond``: inside a ``lax.scan`` on XLA:CPU a
    conditional over the parameters and optimizer state made a 256x256 MLP's update 5x
    slower (measured under load on 2 cores, jax 0.10.2), while the selects fuse into their
    producers."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


class _Spec(NamedTuple):
    """The static description of a learner, closed over by its pure functions."""

    function_type1: Callable
    function_type2: Callable
    modeltype: int
    preprocess: Callable
    action_preprocessor: Callable
    action_start: int
    n_actions: int
    value_fn: Callable
    needs_selector: bool
    needs_probs: bool
    pi_logits: Any  # pi_targ.logits_func or None
    pi_hp_name: Any
    pi_source: Any  # "online", "target", "own" or None
    loss_function: Callable
    optimizer: Any
    uses_rng: bool = True  # any forward pass (q, pi_targ's q) draws random numbers
    transform: Callable = _identity  # q's value transform h (targets are h(R + I h^-1(q')))
    inverse: Callable = _identity
    correction: Any = None  # None (plain n-step target) or "retrace"
    next_action: bool = False  # SARSA: the target policy is the recorded A_next


# --- pure functions -------------------------------------------------------------------------

def _split(spec, rng, num):
    """``num`` keys, or ``None``s when no forward pass draws random numbers (no PRNG work)."""
    if not spec.uses_rng:
        return (None,) * num
    return tuple(jax.random.split(rng, num))


def _target_net(ls):
    if ls.target_params is None:
        return ls.params, ls.function_state
    return ls.target_params, ls.target_function_state


def _probs(logits):
    """Softmax over the last axis; rows with every logit -inf (no legal action) give zeros."""
    ok = ~jnp.all(logits == -jnp.inf, axis=-1, keepdims=True)
    return jnp.where(ok, jax.nn.softmax(jnp.where(ok, logits, 0.0), axis=-1), 0.0)


def _pi_probs(spec, ls, rng, S, mask):
    if spec.pi_source == "own":
        params, state = {k: v for k, v in ls.pi_targ.items() if k != "function_state"}, \
            ls.pi_targ["function_state"]
    else:
        q_params, state = (ls.params, ls.function_state) if spec.pi_source == "online" \
            else _target_net(ls)
        params = {spec.pi_hp_name: ls.pi_targ[spec.pi_hp_name], "q": q_params}
    return _probs(spec.pi_logits(params, state, rng, S, mask))


def _state_values(spec, ls, rng, S_raw, mask, with_probs, a_next=None):
    """``v(s)`` (B,), target values (B, n_actions) and pi_targ probabilities or None.

    With ``a_next`` (SARSA) the "target policy" is the point mass on the recorded action."""
    rng_t, rng_s, rng_p = _split(spec, rng, 3)
    S = spec.preprocess(S_raw)
    q_t, _ = spec.function_type2(*_target_net(ls), rng_t, S, False)
    q_t = spec.inverse(q_t)  # untransformed values; the targets are transformed back
    q_sel = None
    if spec.needs_selector:
        q_sel, _ = spec.function_type2(ls.params, ls.function_state, rng_s, S, False)
    probs = None
    if a_next is not None:
        probs = jax.nn.one_hot(jnp.asarray(a_next) - spec.action_start, spec.n_actions,
                               dtype=q_t.dtype)
    elif with_probs:
        probs = _pi_probs(spec, ls, rng_p, S, mask)
    mask = jnp.ones(q_t.shape, bool) if mask is None else jnp.asarray(mask, bool)
    v = jax.vmap(spec.value_fn, in_axes=(0, 0, 0, 0, None))(
        q_t, q_sel, probs, mask, ls.hyperparams)
    return v, q_t, probs


def _take(x, index):
    return jnp.take_along_axis(x, index[..., None], axis=-1)[..., 0]


def _uses_window(spec, tb):
    """Whether the target reads the window fields: only the opt-in Retrace correction does,
    and only for windows longer than one step."""
    return getattr(spec, "correction", None) == "retrace" and tb.A_seq.shape[1] > 1


def _reads_next_action(spec):
    """SARSA's targets read ``A_next`` (a plain or a distributional spec)."""
    return getattr(spec, "next_action", False) or getattr(spec, "rule", None) == "sarsa"


def _targets(spec, ls, rng, tb):
    """TD targets ``G`` (B,), under ``stop_gradient``."""
    chex.assert_rank([tb.Rn, tb.In], 1)
    if not _uses_window(spec, tb):
        v, _, _ = _state_values(spec, ls, rng, tb.S_next, tb.mask_next, spec.needs_probs,
                                tb.A_next if spec.next_action else None)
        return jax.lax.stop_gradient(spec.transform(tb.Rn + tb.In * v))
    chex.assert_rank([tb.A_seq, tb.R_seq, tb.gamma_seq, tb.valid_seq, tb.logP_seq], 2)
    batch, n = tb.A_seq.shape
    flat = lambda x: jnp.reshape(x, (batch * (n + 1), *x.shape[2:]))
    S = jax.tree_util.tree_map(flat, tb.S_seq)
    mask = None if tb.mask_seq is None else flat(jnp.asarray(tb.mask_seq))
    v, q_t, probs = _state_values(spec, ls, rng, S, mask, True)
    v = jnp.reshape(v, (batch, n + 1))
    q_t = jnp.reshape(q_t, (batch, n + 1, spec.n_actions))
    probs = jnp.reshape(probs, (batch, n + 1, spec.n_actions))
    a = jnp.asarray(tb.A_seq) - spec.action_start
    G = batched_retrace_target(
        _take(q_t[:, :-1], a), v[:, 1:], tb.R_seq, tb.gamma_seq, tb.valid_seq,
        jnp.log(_take(probs[:, :-1], a)), tb.logP_seq, ls.hyperparams["lambda_"])
    return jax.lax.stop_gradient(spec.transform(G))


def _rows_ok(spec, tb):
    """In-graph range checks that a NaN would not reveal (the loss does): ``In`` and the
    window discounts in [0, 1], actions in range, weights >= 0. One fused reduction."""
    def outside(x, lo, hi):
        x = jnp.asarray(x)
        return (x < lo) | (x > hi)
    hi = spec.action_start + spec.n_actions - 1
    bad = outside(tb.In, 0, 1) | outside(tb.A, spec.action_start, hi)
    if tb.W is not None:  # td_error does not read W
        bad = bad | (jnp.asarray(tb.W) < 0)
    if _reads_next_action(spec):
        bad = bad | outside(tb.A_next, spec.action_start, hi)
    if _uses_window(spec, tb):
        bad = bad | jnp.any(outside(tb.gamma_seq, 0, 1) | outside(tb.valid_seq, 0, 1)
                            | outside(tb.A_seq, spec.action_start, hi), axis=1)
    return ~jnp.any(bad)


def _q_pred(spec, params, state, rng, tb, is_training):
    """``q(s_t, a_t)`` (B,) and the new function state."""
    S = spec.preprocess(tb.S)
    if spec.modeltype == 1:
        return spec.function_type1(params, state, rng, S, spec.action_preprocessor(tb.A),
                                   is_training)
    Q_s, state = spec.function_type2(params, state, rng, S, is_training)
    return _take(Q_s, jnp.asarray(tb.A) - spec.action_start), state


def _grads(spec, ls, tb, rng):
    """``(grads, new_function_state, loss, td_error (B,))``."""
    rng_t, rng_q = _split(spec, rng, 2)
    G = _targets(spec, ls, rng_t, tb)

    def loss_fn(params):
        q_pred, state = _q_pred(spec, params, ls.function_state, rng_q, tb, True)
        chex.assert_equal_shape([q_pred, G, tb.W])
        return spec.loss_function(G, q_pred, jnp.asarray(tb.W, q_pred.dtype)), (G - q_pred,
                                                                                  state)

    (loss, (td, state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(ls.params)
    return grads, state, loss, td


def _metrics(loss, td, grads):
    """The metrics dict of an update from the loss, TD errors ``(B,)`` and gradients."""
    td_sum, td_abs_sum, td_abs_max = _td_sums(td)
    return {"loss": loss, "td_error_mean": td_sum / td.shape[0],
            "td_error_abs_mean": td_abs_sum / td.shape[0], "td_error_abs_max": td_abs_max,
            "grad_norm": _global_norm(grads)}


def grads_and_metrics(spec, learner_state, transition_batch, rng):
    """Pure: ``(grads, new_function_state, metrics)``; see :meth:`TDLearner.grads_and_metrics`."""
    grads, state, loss, td = _grads(spec, learner_state, transition_batch, rng)
    return grads, state, _metrics(loss, td, grads)


# The metrics are a handful of scalars, but each reduction is a kernel of its own on XLA:CPU
# (~1-3 µs per call each); these two helpers compute them in one kernel each.

def _td_sums(td):
    """``(sum(td), sum(|td|), max(|td|))`` of a ``(B,)`` array in one variadic reduction."""
    # diagnostics: no gradient (and lax.reduce with a custom combiner has no JVP rule)
    td = jax.lax.stop_gradient(jnp.asarray(td, jnp.float32))
    zero = jnp.float32(0)

    def combine(a, b):
        return a[0] + b[0], a[1] + b[1], jnp.maximum(a[2], b[2])
    return jax.lax.reduce((td, jnp.abs(td), jnp.abs(td)), (zero, zero, zero), combine, (0,))


def _global_norm(tree):
    """The global L2 norm of a pytree of arrays, as one reduction over the raveled leaves
    (``optax.tree.norm`` costs a multiply and a reduction kernel per leaf on XLA:CPU)."""
    leaves = [jnp.ravel(x).astype(jnp.float32) for x in jax.tree_util.tree_leaves(tree)]
    if not leaves:
        return jnp.float32(0)
    flat = jnp.concatenate(leaves)
    return jnp.sqrt(jnp.sum(flat * flat))


def _apply(optimizer, learner_state, grads, function_state):
    """One optimizer step on the online parameters of a :class:`LearnerState`."""
    updates, opt_state = optimizer.update(grads, learner_state.opt_state, learner_state.params)
    params = optax.apply_updates(learner_state.params, updates)
    return learner_state._replace(params=params, function_state=function_state,
                                  opt_state=opt_state)


def _ok(spec, transition_batch, metrics):
    """The step is applied only if the batch passes the range checks and the loss and the
    gradient norm are finite. A finite norm bounds every gradient by ~1.8e19 (its square is
    finite), which keeps optax's optimizers at sane learning rates finite; checking the
    updates themselves would cost one more pass over the parameters (~15% of a small
    update)."""
    return (_rows_ok(spec, transition_batch) & jnp.isfinite(metrics["grad_norm"])
            & jnp.isfinite(metrics["loss"]))


def _step(spec, learner_state, transition_batch, rng):
    """One update, unguarded: ``(new_learner_state, metrics, td_error, ok)``, ``ok`` as
    :func:`_ok`; the TD errors are those of the loss's own forward pass."""
    grads, state, loss, td = _grads(spec, learner_state, transition_batch, rng)
    metrics = _metrics(loss, td, grads)
    new = _apply(spec.optimizer, learner_state, grads, state)
    return new, metrics, td, _ok(spec, transition_batch, metrics)


def _step_from(update_fn, td_error_fn, spec, learner_state, transition_batch, rng):
    """:func:`_step` for learners given as pure ``update_fn`` and ``td_error_fn`` (the
    distributional ones); the TD errors come from a forward pass of their own."""
    new, metrics = update_fn(spec, learner_state, transition_batch, rng)
    td = td_error_fn(spec, learner_state, transition_batch, rng)
    return new, metrics, td, _ok(spec, transition_batch, metrics)


def _guarded(step, spec, learner_state, transition_batch, rng):
    """Pure ``update_func`` over an unguarded ``step``: a refused step returns the state
    unchanged (one select per leaf) and ``metrics['skipped'] == 1``."""
    new, metrics, _, ok = step(spec, learner_state, transition_batch, rng)
    new = new._replace(
        params=_select_tree(ok, new.params, learner_state.params),
        function_state=_select_tree(ok, new.function_state, learner_state.function_state),
        opt_state=_select_tree(ok, new.opt_state, learner_state.opt_state))
    return new, {**metrics, "skipped": (~ok).astype(jnp.float32)}


def update_func(spec, learner_state, transition_batch, rng):
    """Pure: ``(new_learner_state, metrics)``; see :meth:`TDLearner.update_func`."""
    return _guarded(_step, spec, learner_state, transition_batch, rng)


def td_error_func(spec, learner_state, transition_batch, rng):
    """Pure: TD errors ``G - q(s_t, a_t)`` (B,), forward passes with ``is_training=False``."""
    rng_t, rng_q = _split(spec, rng, 2)
    G = _targets(spec, learner_state, rng_t, transition_batch)
    q_pred, _ = _q_pred(spec, learner_state.params, learner_state.function_state, rng_q,
                        transition_batch, False)
    return G - q_pred


def _td_error_checked(td_error_fn, spec, learner_state, transition_batch, rng):
    """``(td_error (B,), ok)`` over a pure ``td_error_fn``: ``ok`` is False when the batch
    fails a range check or a TD error is not finite."""
    td = td_error_fn(spec, learner_state, transition_batch, rng)
    return td, _rows_ok(spec, transition_batch) & jnp.all(jnp.isfinite(td))
