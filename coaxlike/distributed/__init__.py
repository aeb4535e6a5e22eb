"""Ape-X on Ray: distributed rollout actors, a central prioritized replay, one learner.

Needs the optional extra ``distributed`` (``pip install 'coaxlike[distributed]'``, which
installs Ray); importing this package without Ray raises ``ImportError`` naming the extra.
``import coaxlike`` never imports Ray.

* :class:`ApeX`: builds and runs the whole agent (see the "Distributed training" page);
* its parts, plain classes that :class:`ApeX` runs as Ray actors: :class:`RolloutActor`,
  :class:`ReplayServer`, :class:`Evaluator`;
* :func:`apex_epsilons`: Ape-X's per-actor exploration rates;
* :class:`ReplayServerLost`: raised when the replay server's process or node is lost.
"""
from . import _ray  # noqa: F401  (first: the ImportError naming the extra)
from ._apex import ApeX
from ._evaluator import Evaluator
from ._fleet import ReplayServerLost
from ._replay_server import ReplayServer
from ._rollout import RolloutActor
from ._schedule import apex_epsilons

__all__ = ["ApeX", "RolloutActor", "ReplayServer", "Evaluator", "ReplayServerLost",
           "apex_epsilons"]
