r"""TD learning for Q-functions: pure targets and learner shells.

The pure, vmappable target functions (:func:`q_learning_target`, :func:`retrace_target`, ...)
are the maths; the learners (:class:`QLearning`, :class:`DoubleQLearning`, :class:`Sarsa`,
:class:`ExpectedSarsa`, :class:`SoftQLearning`) are thin shells that keep an optimizer state
and update a :class:`~coaxlike.Q` from batches of
:class:`~coaxlike.reward_tracing.TransitionBatch`. Every learner also exposes its pure
``update_func(learner_state, transition_batch, rng) -> (learner_state, metrics)`` over a
:class:`LearnerState` pytree, for training loops compiled whole, with
``learner.init_func(params, ...)`` to build a fresh state in-graph and :func:`sync_target` to
move its target network.

On a :class:`~coaxlike.StochasticQ`, :class:`QLearning`, :class:`DoubleQLearning`,
:class:`Sarsa` and :class:`ExpectedSarsa` learn distributions: the categorical projection
(:func:`categorical_target`, C51) or the quantile Huber loss (:func:`quantile_huber_loss`,
QR-DQN).
"""
from . import _distributional, _targets
from ._base import TDLearner
from ._distributional import (categorical_projection, categorical_target, quantile_huber_loss,
                              quantile_target)
from ._metrics import Metrics
from ._targets import (
    batched_double_q_learning_target, batched_expected_sarsa_target,
    batched_q_learning_target, batched_retrace_target, batched_soft_q_learning_target,
    batched_sarsa_target, double_q_learning_target, double_q_value, expected_sarsa_target,
    expected_value, greedy_value, q_learning_target, retrace_target, sarsa_target,
    soft_q_learning_target, soft_value)
from ._update import LearnerState, sync_target
from .double_q_learning import DoubleQLearning
from .expected_sarsa import ExpectedSarsa
from .q_learning import QLearning
from .sarsa import Sarsa
from .soft_q_learning import SoftQLearning

__all__ = [
    "TDLearner", "QLearning", "DoubleQLearning", "Sarsa", "ExpectedSarsa", "SoftQLearning",
    "LearnerState", "Metrics", "sync_target", *_targets.__all__,
    *_distributional.__all__,
]
