"""Host-side validation of a learner's constructor arguments."""
import warnings

import gymnasium as gym
import jax
import optax

from .._deferred import spec_of
from .._q import Q
from .._stochastic_q import StochasticQ
from .._tree_check import check_same_tree
from ..policies import ValuePolicy

__all__ = []  # private module


def _check_q(q, cls, pi_targ=None, box_needs_pi_targ=False):
    if not isinstance(q, (Q, StochasticQ)):
        raise TypeError(f"q must be a coaxlike.Q or coaxlike.StochasticQ, got "
                        f"{type(q).__name__}")
    if not isinstance(q.action_space, gym.spaces.Discrete):
        if box_needs_pi_targ and pi_targ is None:  # coax's error for this call, first
            raise TypeError("pi_targ must be provided if action space is not discrete (on "
                            f"{q.action_space!r} the next action would come from pi_targ); "
                            f"note that coaxlike's {cls} supports Discrete action spaces only")
        raise NotImplementedError(f"{cls} class is only implemented for discrete actions "
                                  f"spaces: q must have a Discrete action space, got "
                                  f"{q.action_space!r}")


def _check_q_targ(q_targ, q):
    if q_targ is None:
        return
    if type(q_targ) is not type(q):
        raise TypeError(f"q_targ must be a coaxlike.{type(q).__name__} like q, or None, got "
                        f"{type(q_targ).__name__}")
    if q_targ is q:
        raise ValueError("q_targ must be a separate target network, got q itself: pass "
                         "q_targ=q.copy() for a target network, or q_targ=None to bootstrap "
                         "from q (under stop_gradient)")
    if _layout(q_targ) != _layout(q):
        raise ValueError("q_targ must have the modeltype and action space of q, got "
                         f"{q_targ!r} for q = {q!r}")
    # their shapes: deferred parameters are not made for this
    check_same_tree(spec_of(q_targ, "_params"), spec_of(q, "_params"), "q_targ.params")
    check_same_tree(spec_of(q_targ, "_function_state"), spec_of(q, "_function_state"),
                    "q_targ.function_state")


def _layout(q):
    """What a target network must share with ``q``: model type, action space, distribution."""
    if isinstance(q, StochasticQ):
        return (q.modeltype, q.action_space, q.kind, q.num_bins, q.value_range,
                q.atoms is None or tuple(q.atoms.tolist()))
    return q.modeltype, q.action_space


def _check_pi_targ(pi_targ, q, required):
    if pi_targ is None:
        if required:
            raise TypeError("pi_targ must be provided: expected a value policy such as "
                            "coaxlike.EpsilonGreedy, got None")
        return
    if not isinstance(pi_targ, ValuePolicy):
        hint = (" (a Q-function passed positionally? the order is q, pi_targ, q_targ; pass "
                "q_targ=... by keyword)") if isinstance(pi_targ, Q) else ""
        raise TypeError("pi_targ must be a Policy, got: "
                        f"{type(pi_targ).__name__}; expected a value policy "
                        f"(coaxlike.EpsilonGreedy, coaxlike.BoltzmannPolicy) or None{hint}")
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


CORRECTIONS = (None, "retrace")


def _check_correction(correction, pi_targ):
    if correction not in CORRECTIONS:
        raise ValueError(f"off_policy_correction must be one of {CORRECTIONS}, got "
                         f"{correction!r}")
    if correction is not None and pi_targ is None:
        raise ValueError(f"off_policy_correction={correction!r} needs pi_targ (the target "
                         "policy whose probabilities cut the traces), got pi_targ=None")
    return correction


def _check_policy_regularizer(policy_regularizer):
    if policy_regularizer is not None:
        raise NotImplementedError(
            "policy_regularizer is not supported: coaxlike has no coax.regularizers (their "
            "EntropyRegularizer/KLDivRegularizer act on parametrized policies, which coaxlike "
            "does not provide); pass None (see 'Migrating from coax'), got "
            f"{type(policy_regularizer).__name__}")


def _check_loss_function(loss_function):
    if loss_function is not None and not callable(loss_function):
        raise TypeError("loss_function must be callable (y_true, y_pred, w) -> scalar or "
                        f"None (e.g. coaxlike.value_losses.mse), got "
                        f"{type(loss_function).__name__}")


def _pi_targ_used(pi_targ, q, q_targ, needs_probs, correction, cls, stacklevel):
    """``(pi_targ or None, source)``: a target policy that the target does not read is
    dropped with coax's warning; ``source`` says whose Q-function it follows."""
    if pi_targ is not None and not needs_probs and correction is None:
        warnings.warn(f"pi_targ is ignored, because action space is discrete: {cls} "
                      "bootstraps from q_targ alone; pass off_policy_correction='retrace' to "
                      "cut Retrace traces with pi_targ", UserWarning, stacklevel=stacklevel)
        pi_targ = None
    if pi_targ is None:
        return None, None
    if pi_targ.q is q:
        return pi_targ, "online"
    if q_targ is not None and pi_targ.q is q_targ:
        return pi_targ, "target"
    return pi_targ, "own"


def _check_init_args(q, q_targ, params, function_state, target_params, target_function_state):
    """Check :meth:`TDLearner.init_func`'s arguments against ``q`` and ``q_targ``; returns
    ``(function_state, target_params, target_function_state)`` with the defaults filled."""
    if function_state is None:
        if jax.tree_util.tree_leaves(q.function_state):
            raise TypeError("function_state is required: q has a function state (e.g. "
                            "batch-norm statistics); pass the one initialised with params")
        function_state = q.function_state
    check_same_tree(params, q.params, "params")
    check_same_tree(function_state, q.function_state, "function_state")
    if q_targ is None:
        if target_params is not None or target_function_state is not None:
            raise ValueError("target_params and target_function_state must be None for a "
                             "learner without q_targ, got "
                             f"{type(target_params).__name__} and "
                             f"{type(target_function_state).__name__}")
        return function_state, None, None
    target_params = params if target_params is None else target_params
    target_function_state = (function_state if target_function_state is None
                             else target_function_state)
    check_same_tree(target_params, q_targ.params, "target_params")
    check_same_tree(target_function_state, q_targ.function_state, "target_function_state")
    return function_state, target_params, target_function_state
