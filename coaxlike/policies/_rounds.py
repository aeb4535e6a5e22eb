"""A round of draws: the randomness of many successive draws in one compiled call.

Each call of a policy splits its key inside the compiled draw (``_sample_step``): one
threefry call for the next key and the draw's two keys, another for the uniform noise of the
categorical sample, two rolled loops of small kernels per action. A caller that draws many
actions in a row (the collection of :meth:`DQN.learn <coaxlike.agents.DQN.learn>`) draws the
keys and the noise of a whole round in one compiled call (:func:`round_noise`) and acts with a
program that takes its draw's noise as an input (:func:`draw_from_uniform`): the same keys,
the same noise, the same actions and exact log-propensities, bit for bit, as that many calls
of the policy (a test pins this against distrax). A Q-function that draws random numbers in
its forward pass (``uses_rng``) or JAX's high-dynamic-range Gumbel mode keep the plain calls.
"""
import distrax
import jax
import jax.numpy as jnp
import numpy as np

from ._inputs import check_mask

__all__ = []  # private module


# --- pure functions -----------------------------------------------------------------------

def round_noise(key, steps, shape, dtype):
    """The policy's key after each of ``steps`` successive draws from ``key`` (``(steps,)``
    keys) and each draw's uniform noise ``(steps, 1, *shape)``: what ``_sample_step`` splits
    and what distrax's ``Categorical.sample`` then draws, ``jax.random.categorical(rng_a,
    logits, shape=(1, B))``, i.e. ``u ~ U[tiny, 1)`` of shape ``(1, B, n)`` for its Gumbel
    noise ``-log(-log(u))`` (JAX's default, low-dynamic-range mode)."""
    tiny = jnp.finfo(dtype).tiny

    def draw(key, _):
        key, _, rng_a = jax.random.split(key, 3)  # as _sample_step: next key, rng_q, rng_a
        return key, (key, jax.random.uniform(rng_a, (1, *shape), dtype, tiny, 1.0))
    _, (keys, noise) = jax.lax.scan(draw, key, None, length=steps)
    return keys, noise


def draw_from_uniform(logits, u):
    """``(B, n)`` logits and the uniform noise ``u`` ``(1, B, n)`` of one draw -> (index, or
    -1 where the log-propensity is not finite; log-propensity), ``(B,)`` each: what
    ``_draw_from_logits(logits, rng_a)`` returns when ``u`` was drawn from ``rng_a`` by
    :func:`round_noise`. The steps of distrax's ``Categorical.sample_and_log_prob`` with the
    noise given: Gumbel-max over the normalised logits (``jax.random.categorical``), ``-1``
    where the probabilities are not valid, distrax's own ``log_prob`` of the draw."""
    with jax.numpy_rank_promotion("allow"):  # distrax broadcasts by rank promotion
        dist = distrax.Categorical(logits=logits)
        gumbel = -jnp.log(-jnp.log(u))
        draws = jnp.argmax(gumbel + jax.lax.expand_dims(dist.logits, (0,)), axis=-1)
        probs = dist.probs
        valid = jnp.logical_and(jnp.all(jnp.isfinite(probs), axis=-1),
                                jnp.all(probs >= 0, axis=-1))
        draws = draws.astype(jnp.int32)
        index = jnp.where(valid, draws, jnp.ones_like(draws) * -1)
        logp = dist.log_prob(index)
    index, logp = index[0], logp[0]
    return jnp.where(jnp.isfinite(logp), index, -1), logp


def noise_step(logits_func, params, state, eval_key, S, u, action_mask=None):
    """One draw of a round: the policy's logits at ``S``, sampled with the noise ``u``."""
    return draw_from_uniform(logits_func(params, state, eval_key, S, action_mask), u)


# --- the shell --------------------------------------------------------------------------------

def usable(pi):
    """Whether a round reproduces ``pi``'s calls: its network draws no random numbers (the
    draw would need its ``rng_q``) and JAX draws Gumbel noise in its default mode."""
    return not pi.q.uses_rng and not jax.config.jax_high_dynamic_range_gumbel


class Round:
    """``steps`` draws of ``pi`` (a ValuePolicy) whose keys and noise were drawn in one call.

    ``start(s, i)`` dispatches draw ``i`` (``i`` = 0, 1, ... in order) and changes nothing;
    ``finish(pending, return_logp)`` waits for it and checks it as ``pi._finish_sample`` does;
    ``end()`` moves the policy's key on by the draws that passed their checks (its key after
    them, as after that many calls). Call ``end()`` whatever happens (``try/finally``).
    """

    def __init__(self, pi, s, steps):
        self.pi, self.used = pi, 0
        S = pi.q._check_s(s)
        batch = jax.tree_util.tree_leaves(S)[0].shape[0] if pi.q.batched else 1
        n = pi.q.action_space.n
        dtype = jax.eval_shape(pi._logits_jit, pi._current_params(), pi.q._function_state,
                               None, S, None).dtype
        self._keys, noise = pi._round_jit(pi._key, steps, (batch, n), dtype)
        self._noise = noise  # moved to the host at the first draw (it waits for it there)

    def start(self, s, i, action_mask=None):
        pi = self.pi
        if not isinstance(self._noise, np.ndarray):
            self._noise = np.asarray(self._noise)
        S = pi.q._check_s(s)
        u = self._noise[i] if pi.q.batched else self._noise[i][0]  # _on_raw adds the axis
        return pi._noise_jit(pi._current_params(), pi.q._function_state, None, S,
                             check_mask(pi.q, action_mask, S), u)

    def finish(self, pending, return_logp):
        index, logp = pending
        a = self.pi._actions(index)
        self.used += 1
        if not return_logp:
            return a
        return a, (np.asarray(logp) if self.pi.q.batched else float(logp))

    def end(self):
        if self.used:
            self.pi._key = self._keys[self.used - 1]
        self.used = 0
