"""Random samples and transition batches for tests (coax's ``safe_sample`` and
``get_transition_batch``)."""
import numbers

import gymnasium as gym
import jax
import numpy as np

from .._checks import check_int, check_unit

__all__ = ["get_transition_batch", "safe_sample"]


def _rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be an int, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(seed)


def _box_bounds(space):
    """Finite bounds: an unbounded side becomes one unit beyond the other side or 0."""
    low = np.asarray(space.low, np.float64)
    high = np.asarray(space.high, np.float64)
    lo = np.where(np.isfinite(low), low, np.where(np.isfinite(high), np.minimum(high, 0) - 1,
                                                  -1.0))
    hi = np.where(np.isfinite(high), high, np.maximum(lo, 0) + 1)
    return lo, hi


def _sample(space, rng):
    if isinstance(space, gym.spaces.Discrete):
        return np.int64(space.start + rng.integers(space.n))
    if isinstance(space, gym.spaces.MultiDiscrete):
        return (np.asarray(space.start) + rng.integers(space.nvec)).astype(space.dtype)
    if isinstance(space, gym.spaces.MultiBinary):
        return rng.integers(0, 2, size=space.shape).astype(space.dtype)
    if isinstance(space, gym.spaces.Box):
        lo, hi = _box_bounds(space)
        x = lo + rng.random(space.shape) * (hi - lo)
        if np.issubdtype(space.dtype, np.integer):
            x = np.floor(x)
        return np.clip(x, lo, hi).astype(space.dtype)
    if isinstance(space, gym.spaces.Tuple):
        return tuple(_sample(s, rng) for s in space.spaces)
    if isinstance(space, gym.spaces.Dict):
        return {k: _sample(s, rng) for k, s in space.spaces.items()}
    space.seed(int(rng.integers(2**31 - 1)))
    return space.sample()


def safe_sample(space, seed=None):
    """One sample of a gymnasium space with moderate values, reproducible under ``seed``.

    Unlike ``space.sample()`` it never draws huge numbers from unbounded ``Box`` dimensions:
    an unbounded side is replaced by one unit beyond the other side (or by -1 / 1 around 0),
    so the sample always lies in ``space``.

    Args:
        space: a gymnasium space (Box, Discrete, MultiDiscrete, MultiBinary, Tuple, Dict;
            other spaces fall back to their own ``sample``).
        seed: an int, a ``numpy.random.Generator`` or ``None``.

    Returns:
        A sample: ``np.int64`` for Discrete, numpy arrays of the space's dtype, tuples and
        dicts of those for composite spaces.

    Raises:
        TypeError: if ``space`` is not a gymnasium space or ``seed`` is not a seed.

    Examples:
        >>> import gymnasium as gym, numpy as np
        >>> from coaxlike.utils import safe_sample
        >>> space = gym.spaces.Box(low=0.0, high=np.inf, shape=(3,))
        >>> x = safe_sample(space, seed=0)
        >>> space.contains(x), bool(np.all(x <= 1.0))
        (True, True)
    """
    if not isinstance(space, gym.spaces.Space):
        raise TypeError(f"space must be a gymnasium space, got {type(space).__name__}")
    return _sample(space, _rng(seed))


def get_transition_batch(env, batch_size=1, gamma=0.9, random_seed=None):
    """A batch of random transitions shaped for ``env``, e.g. to test a learner.

    Observations and actions come from :func:`safe_sample` of the env's spaces; the other
    fields are random too: ``logP``, ``logP_next`` log-probabilities in
    :math:`[\\log 0.01, \\log 0.99]`, ``Rn`` standard normal clipped to :math:`[-5, 5]`,
    ``In`` either 0 or ``gamma``, importance weights ``W`` in :math:`[0.01, 100]`.

    Args:
        env: anything with gymnasium ``observation_space`` and ``action_space``.
        batch_size: positive int.
        gamma: the discount factor in :math:`[0, 1]`.
        random_seed: an int or ``None``.

    Returns:
        :class:`~coaxlike.reward_tracing.TransitionBatch` with coax's fields (``S``, ``A``,
        ``logP``, ``Rn``, ``In``, ``S_next``, ``A_next``, ``logP_next``, ``W``).

    Raises:
        TypeError: for a ``batch_size`` that is not an int or a ``gamma`` that is not a
            number.
        ValueError: for ``batch_size < 1`` or ``gamma`` outside ``[0, 1]``.

    Examples:
        >>> import gymnasium as gym
        >>> from coaxlike.utils import get_transition_batch
        >>> tb = get_transition_batch(gym.make("CartPole-v1"), batch_size=4, random_seed=0)
        >>> tb.S.shape, tb.A.shape, tb.batch_size
        ((4, 4), (4,), 4)
    """
    from ..reward_tracing import TransitionBatch

    n = check_int(batch_size, "batch_size", 1)
    check_unit(gamma, "gamma")
    rng = _rng(random_seed)

    def batch(space):
        samples = [_sample(space, rng) for _ in range(n)]
        return jax.tree_util.tree_map(lambda *xs: np.stack(xs), *samples)

    def logp():
        return np.log(np.clip(rng.random(n), 0.01, 0.99)).astype(np.float32)

    return TransitionBatch(
        S=batch(env.observation_space), A=batch(env.action_space), logP=logp(),
        Rn=np.clip(rng.standard_normal(n), -5.0, 5.0).astype(np.float32),
        In=rng.choice(np.array([0.0, gamma], np.float32), n),
        S_next=batch(env.observation_space), A_next=batch(env.action_space),
        logP_next=logp(),
        W=np.clip(rng.random(n) / rng.random(n), 0.01, 100.0).astype(np.float32))
