"""Hand-written floors: what a careful user would write with jax, haiku and distrax alone.

Each floor is ONE ``jax.jit`` function over the same haiku network and parameters as the
coaxlike object it is compared with: forward pass, logits, distrax ``Categorical`` sampling
and log-prob, with the key split inside. It is called from Python with a numpy observation
and its result is read with ``int()`` / ``float()`` (``np.asarray`` when batched). Floors do
no validation and no checks for non-finite values, and ``mode`` floors break ties by
``argmax`` (first index), not at random.
"""
import distrax
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

__all__ = []  # private module

HIDDEN = (64, 64)


def cartpole_func(S, is_training):
    """The benchmarked network: MLP 4-64-64-2 (type-2 Q-function for CartPole-v1)."""
    return hk.nets.MLP([*HIDDEN, 2])(S)


_apply = hk.transform(cartpole_func).apply


def _q_values(params, s):
    return _apply(params, None, s, False)


def epsilon_greedy_logits(q, epsilon, mask=None):
    """log of eps/|A| on allowed actions plus (1 - eps) on argmax (first index on ties)."""
    n = q.shape[-1]
    if mask is None:
        greedy = jax.nn.one_hot(jnp.argmax(q, axis=-1), n)
        return jnp.log(epsilon / n + (1 - epsilon) * greedy)
    greedy = jax.nn.one_hot(jnp.argmax(jnp.where(mask, q, -jnp.inf), axis=-1), n)
    n_allowed = jnp.sum(mask, axis=-1, keepdims=True)
    return jnp.log(jnp.where(mask, epsilon / n_allowed, 0.0) + (1 - epsilon) * greedy)


def boltzmann_logits(q, temperature, mask=None):
    logits = q / temperature
    return logits if mask is None else jnp.where(mask, logits, -jnp.inf)


LOGITS = {"EpsilonGreedy": epsilon_greedy_logits, "BoltzmannPolicy": boltzmann_logits}


def make_sample(kind, batched=False):
    """``jit((params, hp, key, s, mask) -> (a, logp, key))`` for ``kind`` in LOGITS."""
    build = LOGITS[kind]

    def sample(params, hp, key, s, mask=None):
        key, sub = jax.random.split(key)
        if not batched:
            s, mask = s[None], (None if mask is None else mask[None])
        logits = build(_q_values(params, s), hp, mask)
        with jax.numpy_rank_promotion("allow"):
            a, logp = distrax.Categorical(logits=logits).sample_and_log_prob(seed=sub)
        return (a, logp, key) if batched else (a[0], logp[0], key)
    return jax.jit(sample)


def make_mode():
    """``jit((params, s, mask) -> a)``: forward pass and argmax (ties: first index)."""
    def mode(params, s, mask=None):
        q = _q_values(params, s[None])[0]
        return jnp.argmax(q if mask is None else jnp.where(mask, q, -jnp.inf))
    return jax.jit(mode)


def make_logits(kind):
    """``jit((params, hp, s, mask) -> logits (n,))``."""
    build = LOGITS[kind]

    def logits(params, hp, s, mask=None):
        return build(_q_values(params, s[None])[0], hp, mask)
    return jax.jit(logits)


class Floor:
    """Carries the key between calls of a jitted floor, the way a user's loop would."""

    def __init__(self, params, hp, seed=0):
        self.params, self.hp = params, jnp.float32(hp)
        self.key = jax.random.key(seed)

    def act(self, fn, s, mask=None):
        a, logp, self.key = fn(self.params, self.hp, self.key, s, mask)
        return int(a)

    def act_logp(self, fn, s, mask=None):
        a, logp, self.key = fn(self.params, self.hp, self.key, s, mask)
        return int(a), float(logp)

    def act_batch(self, fn, S, mask=None):
        A, logP, self.key = fn(self.params, self.hp, self.key, S, mask)
        return np.asarray(A), np.asarray(logP)
