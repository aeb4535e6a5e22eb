"""Pure functions of value-based policies, and the compiled programs the shell calls.

The public pure functions (``sample_func``, ``mode_func``, ``logits_func``,
``log_proba_func``) are these functions with a policy's static configuration bound by
:func:`functools.partial`; they work on preprocessed batches and can be used inside
``jax.jit``, ``jax.vmap`` and ``jax.lax.scan``. The ``*_step`` functions and :func:`_on_raw`
build what the stateful shell (:class:`~coaxlike.policies.ValuePolicy`) compiles.
"""
import distrax
import jax
import jax.numpy as jnp

from ..distributions import greedy_index

__all__ = []  # private module

_TIE_BREAK = -2  # from the greedy fast path: this batch needs random tie-breaking


# --- pure functions (batched over the leading axis of S) ------------------------------------

def _logits(function_type2, builder, hp_name, params, state, rng, S, action_mask=None):
    Q_s, _ = function_type2(params["q"], state, rng, S, False)
    return builder(Q_s, params[hp_name], action_mask)


def _draw_index(logits_func, params, state, rng_q, rng_a, S, action_mask=None):
    """(index in [0, n), or -1 where the log-propensity is not finite; log-propensity).

    A NaN logit (a non-finite allowed Q-value) makes the whole row's log-softmax NaN, so the
    sampled log-propensity is NaN (or ``-inf`` when the sampler returns an out-of-range
    index for such a row): testing ``logp`` elementwise marks the row without a reduction
    over the logits. A valid row never gives a non-finite log-propensity.
    """
    return _draw_from_logits(logits_func(params, state, rng_q, S, action_mask), rng_a)


def _draw_from_logits(logits, rng):
    """``(B, n)`` logits -> (index, or -1 where the log-propensity is not finite;
    log-propensity): :func:`_draw_index` on logits already built (e.g. from Q-values a
    caller computed anyway)."""
    with jax.numpy_rank_promotion("allow"):  # distrax broadcasts by rank promotion
        index, logp = distrax.Categorical(logits=logits).sample_and_log_prob(seed=rng)
    return jnp.where(jnp.isfinite(logp), index, -1), logp


def _sample_index(logits_func, params, state, rng, S, action_mask=None):
    rng_q, rng_a = jax.random.split(rng)
    return _draw_index(logits_func, params, state, rng_q, rng_a, S, action_mask)


def _mode_index(function_type2, params, state, rng, S, action_mask=None):
    rng_q, rng_a = jax.random.split(rng)
    Q_s, _ = function_type2(params["q"], state, rng_q, S, False)
    return greedy_index(Q_s, rng_a, action_mask)


def _log_proba_index(logits_func, params, state, rng, S, index, action_mask=None):
    logits = logits_func(params, state, rng, S, action_mask)
    with jax.numpy_rank_promotion("allow"):  # distrax broadcasts by rank promotion
        return distrax.Categorical(logits=logits).log_prob(index)


def _sample(sample_index, start, params, state, rng, S, action_mask=None):
    index, logp = sample_index(params, state, rng, S, action_mask)
    return index + start, logp


def _mode(mode_index, start, params, state, rng, S, action_mask=None):
    return mode_index(params, state, rng, S, action_mask) + start


def _log_proba(log_proba_index, start, params, state, rng, S, A, action_mask=None):
    return log_proba_index(params, state, rng, S, jnp.asarray(A) - start, action_mask)


# --- what the shell compiles --------------------------------------------------------------
# Draws (sampling, tie-breaking) take ``(params, state, eval_key, key, S, action_mask)`` and
# return ``(out, next_key)``, splitting the policy's key once. Evaluations (the greedy fast
# path, logits, log_proba) take ``(params, state, eval_key, S, *extra, action_mask)`` and
# return ``out``: they run the forward pass under the Q-function's evaluation key, as
# ``q(s)`` does, and neither use nor return the policy's key (returning a key costs a few µs
# of Python per call to wrap it).

def _sample_step(logits_func, params, state, eval_key, key, S, action_mask=None):
    key, rng_q, rng_a = jax.random.split(key, 3)  # one threefry call for all three keys
    return _draw_index(logits_func, params, state, rng_q, rng_a, S, action_mask), key


def _mode_step(function_type2, params, state, eval_key, key, S, action_mask=None):
    key, rng = jax.random.split(key)
    Q_s, _ = function_type2(params["q"], state, eval_key, S, False)
    return greedy_index(Q_s, rng, action_mask), key


def _greedy_step(function_type2, q_params, state, eval_key, S, action_mask=None):
    """The greedy index where it needs no tie-break, else ``_TIE_BREAK``.

    A row whose allowed Q-values are finite with a unique maximum has exactly one greedy
    action, found without randomness. The shell sends any other batch through
    ``_mode_step``, so the PRNG (a rolled loop and a dozen small kernels on CPU) stays off
    the common path while the result is distributed exactly as :func:`greedy_index`'s.
    It takes the Q-function's parameters alone: no hyperparameter to flatten per call.
    """
    Q_s, _ = function_type2(q_params, state, eval_key, S, False)
    return _unique_argmax(Q_s, action_mask)


def _unique_argmax(Q_s, action_mask=None):
    """``(B, n) -> (B,)`` int32: the index of the unique maximum of the allowed values, or
    ``_TIE_BREAK`` where the maximum is tied, an allowed value is not finite or nothing is
    allowed.

    One variadic reduction over (value, index) pairs, which XLA fuses with the masking into
    a single kernel (an argmax plus separate tie and finiteness checks costs two). Allowed
    non-finite values become ``(+inf, _TIE_BREAK)``, masked ones ``(-inf, _TIE_BREAK)``;
    the combiner keeps the larger value and marks equal values as a tie. That is
    associative and commutative, and ``(-inf, _TIE_BREAK)`` is its identity on these
    pairs (XLA assumes the initial value is one), so no masked index can come out.
    """
    axis = Q_s.ndim - 1
    finite = jnp.isfinite(Q_s)
    values = jnp.where(finite, Q_s, jnp.inf)
    index = jnp.where(finite, jax.lax.broadcasted_iota(jnp.int32, Q_s.shape, axis), _TIE_BREAK)
    if action_mask is not None:
        values = jnp.where(action_mask, values, -jnp.inf)
        index = jnp.where(action_mask, index, _TIE_BREAK)

    def combine(a, b):
        (va, ia), (vb, ib) = a, b
        return (jnp.maximum(va, vb),
                jnp.where(va > vb, ia, jnp.where(vb > va, ib, _TIE_BREAK)))
    init = (jnp.array(-jnp.inf, Q_s.dtype), jnp.int32(_TIE_BREAK))
    return jax.lax.reduce((values, index), init, combine, (axis,))[1]


def _on_raw(step, preprocess, batched, draws, start=None):
    """Jit ``step`` for raw observations: preprocess, add and drop the batch axis.

    Returns ``jitted(params, state, eval_key, key, s, action_mask) -> (out, next_key)`` if
    ``draws``, else ``jitted(params, state, eval_key, s, action_mask, *extra) -> out``. With
    ``start`` and a batched Q-function, ``start`` is added in-graph to the index in ``out``
    (its first element if a tuple): the host gets env actions, marked rows below ``start``.
    """
    def finish(out):
        if not batched:
            return jax.tree_util.tree_map(lambda x: x[0], out)
        if start is None:
            return out
        if isinstance(out, tuple):
            return (out[0] + start,) + out[1:]
        return out + start

    def batch(s, action_mask, extra):
        if batched:
            return s, action_mask, extra
        return (jax.tree_util.tree_map(lambda x: jnp.expand_dims(x, 0), s),
                None if action_mask is None else action_mask[None],
                tuple(jnp.expand_dims(x, 0) for x in extra))

    def draw(params, state, eval_key, key, s, action_mask):
        s, action_mask, _ = batch(s, action_mask, ())
        out, key = step(params, state, eval_key, key, preprocess(s), action_mask=action_mask)
        return finish(out), key

    def evaluate(params, state, eval_key, s, action_mask, *extra):
        s, action_mask, extra = batch(s, action_mask, extra)
        return finish(step(params, state, eval_key, preprocess(s), *extra,
                           action_mask=action_mask))
    return jax.jit(draw if draws else evaluate)
