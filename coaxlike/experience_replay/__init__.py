"""Experience replay: host-side uniform and prioritized buffers, and an in-graph buffer."""
from ._prioritized import PrioritizedReplayBuffer
from ._pytree_buffer import BufferState, PytreeReplayBuffer
from ._simple import SimpleReplayBuffer
from ._sumtree import SumTree

__all__ = [
    "BufferState", "PrioritizedReplayBuffer", "PytreeReplayBuffer", "SimpleReplayBuffer",
    "SumTree",
]
