"""Gymnasium wrappers for training loops, as in ``coax.wrappers``.

:class:`TrainMonitor` counts steps and episodes, logs one line per episode and writes
TensorBoard scalars; on a vector env it becomes a :class:`VectorTrainMonitor`.
:class:`FrameStacking` gives the last ``k`` observations as a tuple of frames, which the
replay buffers store one frame at a time.
"""
from ._frame_stacking import FrameStacking
from ._train_monitor import TrainMonitor, VectorTrainMonitor

__all__ = ["FrameStacking", "TrainMonitor", "VectorTrainMonitor"]
