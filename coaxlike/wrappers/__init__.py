"""Gymnasium wrappers for training loops, as in ``coax.wrappers``.

:class:`TrainMonitor` counts steps and episodes, logs one line per episode and writes
TensorBoard scalars; on a vector env it becomes a :class:`VectorTrainMonitor`.
"""
from ._train_monitor import TrainMonitor, VectorTrainMonitor

__all__ = ["TrainMonitor", "VectorTrainMonitor"]
