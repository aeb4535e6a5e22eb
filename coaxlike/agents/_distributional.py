r"""The DQN agent's distributional option: its settings, checked, and the Q-function it builds.

``DQN(env, distributional="categorical")`` composes a categorical (C51)
:class:`~coaxlike.StochasticQ` and ``"quantile"`` a quantile (QR-DQN) one; the learner the
agent already builds (:class:`~coaxlike.td_learning.DoubleQLearning` or
:class:`~coaxlike.td_learning.QLearning`) then learns distributions, and the policies act on
the network-space means. Nothing here is a second implementation: it only chooses the
arguments of those parts.
"""
import math

from .._checks import as_real, check_int
from .._q import Q
from .._stochastic_q import StochasticQ

__all__ = []  # private module

KINDS = (None, "categorical", "quantile")
DEFAULT_NUM_BINS = 51  # C51's atoms
DEFAULT_NUM_QUANTILES = 10  # rl-zoo's n_quantiles for QR-DQN on CartPole (sb3-contrib)


def default_value_range(gamma):
    r"""``(-1/(1 - gamma), 1/(1 - gamma))``: every discounted return of rewards in
    :math:`[-1, 1]` (``None`` for ``gamma == 1``, which has no such bound)."""
    if gamma >= 1.0:
        return None
    bound = round(1.0 / (1.0 - gamma), 6)  # 100.0, not 99.99999999999991, for 0.99
    return (-bound, bound)


def check(distributional, value_range, num_bins, num_quantiles, gamma):
    """The distributional settings as plain values for the agent's config (fingerprinted);
    ``TypeError`` (wrong type) or ``ValueError`` naming the argument for anything out of
    place."""
    if not (distributional is None or isinstance(distributional, str)):
        raise TypeError(f"distributional must be None, 'categorical' or 'quantile', got "
                        f"{type(distributional).__name__} {distributional!r}")
    if distributional not in KINDS:
        raise ValueError(f"distributional must be None, 'categorical' or 'quantile', got "
                         f"{distributional!r}")
    misplaced = {"value_range": (value_range, "categorical"),
                 "num_bins": (num_bins, "categorical"),
                 "num_quantiles": (num_quantiles, "quantile")}
    for name, (value, kind) in misplaced.items():
        if value is not None and distributional != kind:
            raise ValueError(f"{name} is a setting of distributional={kind!r}; it must be None "
                             f"with distributional={distributional!r}, got {value!r}")
    if distributional is None:
        return {}  # a plain agent's config (and fingerprint) stays as it was
    c = {"distributional": distributional}
    if distributional == "categorical":
        if value_range is None:
            value_range = default_value_range(gamma)
            if value_range is None:
                raise ValueError("value_range is required with distributional='categorical' "
                                 "and gamma=1 (the default, +-1/(1 - gamma), is infinite), got "
                                 "None")
        c["value_range"] = _pair(value_range)
        c["num_bins"] = (DEFAULT_NUM_BINS if num_bins is None
                         else check_int(num_bins, "num_bins", 2))
    else:
        c["num_quantiles"] = (DEFAULT_NUM_QUANTILES if num_quantiles is None
                              else check_int(num_quantiles, "num_quantiles", 1))
    return c


def _pair(value_range):
    want = "a pair of finite floats (v_min, v_max) with v_min < v_max"
    if not (isinstance(value_range, (tuple, list)) and len(value_range) == 2):
        raise TypeError(f"value_range must be {want}, got {value_range!r}")
    low, high = (as_real(v, "value_range", want) for v in value_range)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"value_range must be a pair of finite floats (v_min, v_max) with "
                         f"v_min < v_max, got {value_range!r}")
    return [low, high]  # a list: what the JSON description of a saved agent reads back


def make_q(func, envs, config):
    """A :class:`~coaxlike.Q`, or the :class:`~coaxlike.StochasticQ` the config asks for."""
    kind = config.get("distributional")
    if kind is None:
        return Q(func, envs, random_seed=config["seed"])
    if kind == "categorical":
        return StochasticQ(func, envs, value_range=tuple(config["value_range"]),
                           num_bins=config["num_bins"], random_seed=config["seed"])
    return StochasticQ(func, envs, value_range=None, num_bins=config["num_quantiles"],
                       random_seed=config["seed"])


def num_outputs(config):
    """``(kind, K)`` of the default network's heads: ``(None, None)`` for a plain Q."""
    kind = config.get("distributional")
    return kind, config.get("num_bins" if kind == "categorical" else "num_quantiles")
