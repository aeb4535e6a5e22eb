"""The agent's exploration: its policy, the schedule of the policy's hyperparameter, and how
both are described in a saved file and rebuilt from it.

A saved agent records the policy it *has* (not the one it was built with): the class, when it
is one of :data:`KNOWN_POLICIES`, and the state of the schedule (a tag: ``None`` keeps the
policy's own value, ``"default"`` the default epsilon schedule, a float a constant,
``"custom"`` a callable, which a file cannot hold). Loading rebuilds that policy over the new
agent's Q-function; its hyperparameter and key come back from the file's arrays.
"""
import math

import optax

from ..policies import BoltzmannPolicy, EpsilonGreedy, ValuePolicy
from . import _config

__all__ = []  # private module

DEFAULT_EXPLORATION = (1.0, 0.05, 10_000)  # linear epsilon: start, end, env steps
DEFAULT_SCHEDULE = optax.linear_schedule(*DEFAULT_EXPLORATION)  # tagged "default" when saved
KNOWN_POLICIES = {cls.__name__: cls for cls in (EpsilonGreedy, BoltzmannPolicy)}


def check(pi, q, exploration):
    """Validate a policy for the agent's ``q`` and an exploration setting for it; returns
    ``(schedule or None, tag)`` with a constant wrapped into a schedule."""
    if not isinstance(pi, ValuePolicy):
        raise TypeError(f"policy must be a coaxlike value policy (EpsilonGreedy, "
                        f"BoltzmannPolicy), got {type(pi).__name__}")
    if pi.q is not q:
        raise ValueError("policy must act on the agent's own Q-function agent.q, got a "
                         "policy over another Q")
    if exploration is None:
        return None, None
    is_epsilon = pi._hp_name == "epsilon"
    low, high = (0.0, 1.0) if is_epsilon else (0.0, math.inf)
    exploration = _config.number_or_schedule(exploration, "exploration", low, high,
                                             low_open=not is_epsilon)
    if callable(exploration):
        return exploration, "default" if exploration is DEFAULT_SCHEDULE else "custom"
    value = exploration
    return (lambda step: value), value  # a constant schedule


def describe(pi, tag):
    """The static description of the agent's exploration, as saved."""
    cls = type(pi)
    known = KNOWN_POLICIES.get(cls.__name__) is cls
    return {"class": cls.__name__ if known else f"custom:{cls.__name__}",
            "hyperparameter": pi._hp_name, "exploration": tag}


def for_loading(description, path, policy, exploration):
    """``(policy factory, exploration)`` to build an agent that a file's exploration
    ``description`` fits; ``policy`` and ``exploration`` are what the caller passed to
    ``DQN.load``."""
    name, tag = description["class"], description["exploration"]
    if policy is None:
        if name not in KNOWN_POLICIES:
            raise ValueError(f"policy is required: {path!r} was saved with a policy of class "
                             f"{name.removeprefix('custom:')}, which DQN.load cannot rebuild "
                             "(it rebuilds EpsilonGreedy and BoltzmannPolicy); pass a factory "
                             "policy=lambda q: ...")
        cls = KNOWN_POLICIES[name]
        policy = lambda q: cls(q)  # noqa: E731 - its hyperparameter comes from the file
    if tag == "custom":
        if exploration is None:
            raise ValueError(f"exploration is required: {path!r} was saved with a custom "
                             "exploration schedule, which a file cannot hold; pass the same "
                             "exploration=")
        return policy, exploration
    if exploration is not None:
        raise ValueError(f"exploration must be None: {path!r} was saved with "
                         f"exploration={tag!r}, got {exploration!r}")
    return policy, (DEFAULT_SCHEDULE if tag == "default" else tag)
