"""What TrainMonitor and VectorTrainMonitor share: counters, metrics, periods, log output.

The per-step work stays in the two wrappers (a few additions per step); everything that costs
more (reading device metrics, formatting log lines, writing TensorBoard events) happens once
per finished episode.
"""
import atexit
import collections.abc
import datetime
import json
import logging
import math
import numbers
import os
import re
import tempfile
import weakref

import numpy as np

from .._checks import as_real, check_int
from ..td_learning import Metrics
from ._monitor_logging import monitor_logger

__all__ = []

# metrics recorded between two episode lines are kept as given and read in one go; past this
# many they are folded into running sums so that memory stays bounded in long episodes
_MAX_PENDING = 256
_TIMESTAMPED = re.compile(r".*[/\\]\d{8}_\d{6}$")
_ALWAYS_LOGGED = ("loss", "entropy", "kl_div")
_LOGGER_KWARGS = ("name", "level", "output_filepath", "output_level")


# monitors not closed yet: at interpreter exit each writes what it still holds (see
# _MonitorBase._flush_at_exit); weak, so an unreachable monitor is simply dropped
_OPEN = weakref.WeakSet()


def _flush_open_monitors():
    for monitor in list(_OPEN):
        try:
            monitor._flush_at_exit()
        except Exception:  # one failing monitor must not keep the others from writing
            monitor.logger.exception("could not write the monitor's last records at exit")


def _flush_before_writers_close(monitor):
    """Keep ``monitor`` in the exit flush, which must run before tensorboardX's own exit
    handlers close the writers: atexit runs handlers last-in first-out, so the flush is moved
    to the end of the stack whenever a monitor or a writer is created."""
    _OPEN.add(monitor)
    atexit.unregister(_flush_open_monitors)
    atexit.register(_flush_open_monitors)


def _check_flag(value, argname):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{argname} must be a bool, got {value!r}")
    return bool(value)


def _is_scalar(value):
    if isinstance(value, numbers.Real):
        return True
    shape = getattr(value, "shape", None)
    return shape is not None and math.prod(shape) == 1 and hasattr(value, "__float__")


def _shown_in_log(name):
    """coax's reduced set: losses, entropies, KL divergences and throughput figures."""
    last = name.rsplit("/", 1)[-1]
    return last in _ALWAYS_LOGGED or name.startswith("throughput/")


class _MonitorBase:
    """Counters, metric averages, periods and log output shared by the two monitors (abstract).

    Subclasses set ``T``/``ep`` through ``_reset_counters`` and call ``_write_episode`` for each
    finished episode and ``_flush_window`` after the episodes of one step are written.
    """

    def _init_monitor(self, tensorboard_dir, tensorboard_write_all, log_all_metrics,
                      smoothing, logger_kwargs):
        unknown = sorted(set(logger_kwargs) - set(_LOGGER_KWARGS))
        if unknown:
            raise TypeError(f"unexpected keyword arguments {unknown}; TrainMonitor passes only "
                            f"{list(_LOGGER_KWARGS)} on to its logger")
        if tensorboard_dir is not None and not isinstance(tensorboard_dir, (str, os.PathLike)):
            raise TypeError(f"tensorboard_dir must be a path or None, got {tensorboard_dir!r}")
        if not as_real(smoothing, "smoothing", "a number >= 1") >= 1:
            raise ValueError(f"smoothing must be a number >= 1, got {smoothing!r}")
        self.tensorboard_write_all = _check_flag(tensorboard_write_all, "tensorboard_write_all")
        self.log_all_metrics = _check_flag(log_all_metrics, "log_all_metrics")
        self.smoothing = float(smoothing)
        self.logger = monitor_logger(**logger_kwargs)
        self._tensorboard_dir = None
        if tensorboard_dir is not None:
            path = os.fspath(tensorboard_dir)
            if not _TIMESTAMPED.match(path):  # one sub-directory per run, as coax
                path = os.path.join(path, datetime.datetime.now().strftime("%Y%m%d_%H%M%S"))
            self._tensorboard_dir = path
        self._tensorboard = None
        self._env_closed = False
        self._reset_monitor()
        _flush_before_writers_close(self)

    def _reset_monitor(self):
        self.T = 0
        self.ep = 0
        self.avg_G = 0.0
        self._n_avg_G = 0.0
        self._period = {"T": {}, "ep": {}}
        self._pending = []            # [(T, mapping)] recorded since the last fold
        self._sums = {}               # name -> [sum, count] since the last episode line

    # -- metrics ------------------------------------------------------------------------------
    def record_metrics(self, metrics):
        """Record training metrics; they are averaged per episode and logged with it.

        Values are read lazily: a learner's :class:`~coaxlike.td_learning.Metrics` (device
        values) is kept as it is and read when the episode line is written, so recording does
        not wait for the update to finish.

        Args:
            metrics: a mapping ``{name: scalar}``, e.g. the return value of
                ``learner.update(...)`` or ``{"EpsilonGreedy/epsilon": pi.epsilon}``. Scalars
                are Python numbers or arrays of one element.

        Raises:
            TypeError: if ``metrics`` is not a mapping, a name is not a string or a value is
                not a scalar (nothing is recorded then).

        Examples:
            >>> import gymnasium as gym
            >>> from coaxlike.wrappers import TrainMonitor
            >>> env = TrainMonitor(gym.make("CartPole-v1"))
            >>> env.record_metrics({"QLearning/loss": 0.5})
            >>> env.record_metrics({"QLearning/loss": 1.5})
            >>> env.get_metrics()
            {'QLearning/loss': 1.0}
        """
        if not isinstance(metrics, collections.abc.Mapping):
            raise TypeError(f"metrics must be a mapping {{name: scalar}}, got "
                            f"{type(metrics).__name__}")
        if not isinstance(metrics, Metrics):  # a learner's Metrics is known to be valid
            for name, value in metrics.items():
                if not isinstance(name, str):
                    raise TypeError(f"metric names must be str, got {name!r}")
                if not _is_scalar(value):
                    raise TypeError(f"metric {name!r} must be a scalar, got {value!r}")
            metrics = dict(metrics)  # the caller may reuse and change its dict
        self._pending.append((self.T, metrics))
        if len(self._pending) >= _MAX_PENDING:
            self._fold_pending()

    def _fold_pending(self):
        pending, self._pending = self._pending, []
        write_all = self.tensorboard_write_all and self._tensorboard_dir is not None
        for T, metrics in pending:
            for name, value in metrics.items():
                value = float(value)
                total = self._sums.setdefault(name, [0.0, 0])
                total[0] += value
                total[1] += 1
                if write_all:
                    self.tensorboard.add_scalar(name, value, global_step=T)

    def get_metrics(self):
        """The averages of the metrics recorded since the last episode line.

        Returns:
            dict ``{name: float}``.
        """
        self._fold_pending()
        return {name: total / count for name, (total, count) in self._sums.items()}

    # -- periods ------------------------------------------------------------------------------
    def period(self, name, T_period=None, ep_period=None):
        """Whether a periodic task called ``name`` is due: ``True`` once each time ``T``
        passes a multiple of ``T_period`` (or ``ep`` a multiple of ``ep_period``).

        Each name keeps its own count; a call that finds several periods passed returns
        ``True`` once and catches up one period per call, as coax does.

        Args:
            name: any hashable name of the task, e.g. ``"generate_gif"``.
            T_period: positive int, a period in environment steps.
            ep_period: positive int, a period in episodes.

        Returns:
            bool

        Raises:
            TypeError: if a period is not an int.
            ValueError: if a period is < 1.

        Examples:
            >>> import gymnasium as gym
            >>> from coaxlike.wrappers import TrainMonitor
            >>> env = TrainMonitor(gym.make("CartPole-v1"))
            >>> env.T = 1000
            >>> env.period("evaluate", T_period=500), env.period("evaluate", T_period=500)
            (True, True)
            >>> env.period("evaluate", T_period=500)
            False
        """
        due = False
        for counter, period in (("T", T_period), ("ep", ep_period)):
            if period is None:
                continue
            check_int(period, f"{counter}_period", 1)
            count = self._period[counter].setdefault(name, 1)
            if getattr(self, counter) >= count * int(period):
                self._period[counter][name] = count + 1
                due = True
        return due

    # -- TensorBoard --------------------------------------------------------------------------
    @property
    def tensorboard(self):
        """The ``tensorboardX.SummaryWriter`` of this run, or ``None`` without
        ``tensorboard_dir`` (created on first use; needs the ``tensorboard`` extra)."""
        if self._tensorboard is None and self._tensorboard_dir is not None:
            try:
                from tensorboardX import SummaryWriter
            except ImportError as e:
                raise ImportError("TrainMonitor(tensorboard_dir=...) needs tensorboardX: "
                                  "pip install 'coaxlike[tensorboard]'") from e
            self._tensorboard = SummaryWriter(self._tensorboard_dir, flush_secs=10)
            _flush_before_writers_close(self)
        return self._tensorboard

    @property
    def tensorboard_dir(self):
        """The directory the event files of this run go to (``None`` without TensorBoard)."""
        return self._tensorboard_dir

    # -- output -------------------------------------------------------------------------------
    def _episode_finished(self, G):
        """Fold a finished episode's return into ``avg_G`` (a running mean over the last
        ``smoothing`` episodes: ``n = min(smoothing, n + 1)``, ``avg_G += (G - avg_G) / n``)."""
        self._n_avg_G = min(self.smoothing, self._n_avg_G + 1.0)
        self.avg_G += (G - self.avg_G) / self._n_avg_G

    def _write_episode(self, G, t, dt_ms, action_counts):
        """Log one episode's line and write its scalars at the current ``T``."""
        averages = self.get_metrics()
        shown = "".join(f",\t{k}: {v:.3g}" for k, v in averages.items()
                        if self.log_all_metrics or _shown_in_log(k))
        avg_r = G / t if t > 0 else math.nan
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info(f"ep: {self.ep:d},\tT: {self.T:,d},\tG: {G:.3g},\t"
                             f"avg_r: {avg_r:.3g},\tavg_G: {self.avg_G:.3g},\tt: {t:d},\t"
                             f"dt: {dt_ms:.3f}ms{shown}")
        writer = self.tensorboard
        if writer is None:
            return
        for tag, value in (("episode/episode", self.ep), ("episode/avg_reward", avg_r),
                           ("episode/return", G), ("episode/steps", t),
                           ("episode/avg_step_duration_ms", dt_ms)):
            writer.add_scalar(tag, float(value), global_step=self.T)
        if action_counts is not None and action_counts.sum() > 0:
            n = len(action_counts)
            writer.add_histogram("actions", np.repeat(np.arange(n), action_counts),
                                 global_step=self.T, bins=np.arange(n + 1))

    def _flush_window(self):
        """Write the metric averages of the window that just ended and start a new one."""
        averages = self.get_metrics()
        if self._tensorboard_dir is not None and not self.tensorboard_write_all:
            for name, value in averages.items():
                self.tensorboard.add_scalar(name, value, global_step=self.T)
        self._sums = {}

    def _flush_at_exit(self):
        """What ``close`` writes, for a monitor still open when the interpreter exits."""
        self._close_monitor()

    def _close(self, close_env, close_env_fn):
        """``close``'s shared part: the writer, then the env once (until the next reset)."""
        self._close_monitor()
        if close_env and not self._env_closed:
            self._env_closed = True
            close_env_fn()

    def _close_monitor(self):
        """Close the TensorBoard writer (idempotent); the env is left open."""
        _OPEN.discard(self)
        if self._tensorboard is not None:
            self._fold_pending()
            self._tensorboard.close()
            self._tensorboard = None

    # -- counters -----------------------------------------------------------------------------
    _COUNTERS = ("T", "ep", "t", "G", "avg_G", "_n_avg_G", "_period")

    def get_counters(self):
        """The global counters (``T``, ``ep``, ``avg_G``, the periods, and the current
        episode's counters), e.g. to resume a run from a checkpoint.

        Returns:
            dict of JSON-compatible values.
        """
        counters = {name: getattr(self, name) for name in self._COUNTERS}
        counters["_period"] = {k: dict(v) for k, v in self._period.items()}
        return {k: v.tolist() if isinstance(v, (np.ndarray, np.generic)) else v
                for k, v in counters.items()}

    def set_counters(self, counters):
        """Restore counters returned by :meth:`get_counters`.

        Raises:
            TypeError: if ``counters`` is not a dict with exactly the expected keys (the
                counters are left unchanged).
        """
        if not isinstance(counters, dict) or set(counters) != set(self._COUNTERS):
            raise TypeError(f"counters must be a dict with keys {sorted(self._COUNTERS)}, "
                            f"got {counters!r}")
        for name in self._COUNTERS:
            value = counters[name]
            current = getattr(self, name)
            if isinstance(current, np.ndarray):
                value = np.array(value, dtype=current.dtype).reshape(current.shape)
            elif name == "_period":
                value = {k: dict(v) for k, v in value.items()}
            setattr(self, name, value)

    def save_counters(self, filepath):
        """Write :meth:`get_counters` to a JSON file (atomically: the file is either the old
        one or the complete new one)."""
        filepath = os.fspath(filepath)
        directory = os.path.dirname(filepath) or "."
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".counters-")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.get_counters(), f)
            os.replace(tmp, filepath)
        except BaseException:
            os.unlink(tmp)
            raise

    def load_counters(self, filepath):
        """Restore counters written by :meth:`save_counters`."""
        with open(filepath) as f:
            self.set_counters(json.load(f))
