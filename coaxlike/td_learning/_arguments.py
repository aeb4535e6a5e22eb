"""Host-side validation of a learner's constructor arguments."""
import gymnasium as gym
import optax

from .._q import Q
from .._stochastic_q import StochasticQ
from .._tree_check import check_same_tree
from ..policies import ValuePolicy

__all__ = []  # private module


def _check_q(q):
    if not isinstance(q, (Q, StochasticQ)):
        raise TypeError(f"q must be a coaxlike.Q or coaxlike.StochasticQ, got {type(q).__name__}")
    if not isinstance(q.action_space, gym.spaces.Discrete):
        raise TypeError(f"q must have a Discrete action space, got {q.action_space!r}")


def _check_q_targ(q_targ, q):
    if q_targ is None:
        return
    if type(q_targ) is not type(q):
        raise TypeError(f"q_targ must be a coaxlike.{type(q).__name__} like q, or None, got "
                        f"{type(q_targ).__name__}")
    if _layout(q_targ) != _layout(q):
        raise ValueError("q_targ must have the modeltype and action space of q, got "
                         f"{q_targ!r} for q = {q!r}")
    check_same_tree(q_targ.params, q.params, "q_targ.params")
    check_same_tree(q_targ.function_state, q.function_state, "q_targ.function_state")


def _layout(q):
    """What a target network must share with ``q``: model type, action space, distribution."""
    if isinstance(q, StochasticQ):
        return (q.modeltype, q.action_space, q.kind, q.num_bins, q.value_range,
                q.atoms is None or tuple(q.atoms.tolist()))
    return q.modeltype, q.action_space


def _check_pi_targ(pi_targ, q, required):
    if pi_targ is None:
        if required:
            raise TypeError("pi_targ is required: expected a value policy such as "
                            "coaxlike.EpsilonGreedy, got None")
        return
    if not isinstance(pi_targ, ValuePolicy):
        raise TypeError("pi_targ must be a value policy (coaxlike.EpsilonGreedy, "
                        f"coaxlike.BoltzmannPolicy) or None, got {type(pi_targ).__name__}")
    if (pi_targ.q.action_space, pi_targ.q.observation_space) != (q.action_space,
                                                                  q.observation_space):
        raise ValueError("pi_targ.q must have the observation and action spaces of q, got "
                         f"{pi_targ.q!r} for q = {q!r}")


def _check_optimizer(optimizer):
    if optimizer is None:
        return optax.adam(1e-3), "optax.adam(learning_rate=0.001)"
    if not (callable(getattr(optimizer, "init", None))
            and callable(getattr(optimizer, "update", None))):
        raise TypeError("optimizer must be an optax.GradientTransformation (init/update) or "
                        f"None, got {type(optimizer).__name__}")
    return optimizer, "custom"  # its structure is checked through the optimizer state


def _name(fn):
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
