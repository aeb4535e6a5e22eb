"""Progress and logs of :meth:`DQN.learn`: a tqdm bar or plain lines, TensorBoard and CSV.

TensorBoard goes through :class:`~coaxlike.wrappers.VectorTrainMonitor`: the agent steps its
envs through one for the duration of a :meth:`DQN.learn` call with ``log_dir``, so that the
episode scalars are the monitor's own, and writes its training scalars with the monitor's
writer.
"""
import csv
import logging
import math
import os
import sys
import time

import numpy as np

from ..wrappers import VectorTrainMonitor

__all__ = []  # private module

_FIELDS = ("num_timesteps", "num_updates", "episodes", "ep_return_mean", "loss", "epsilon",
           "steps_per_second", "eval_return")


class Logger:
    """Writes one row per round that finished an episode, trained or evaluated.

    * progress: a tqdm bar when stdout is a terminal, otherwise a plain line every
      ``interval`` seconds (and at the end);
    * ``log_dir``: a :class:`~coaxlike.wrappers.VectorTrainMonitor` over the agent's envs
      (``self.env``, what the collection loop steps) writing the ``episode/*`` scalars and
      the ``actions`` histogram into a run directory ``log_dir/<start time>``; its writer
      also takes the rows' scalars under the SB3-style tags ``rollout/ep_rew_mean``,
      ``train/loss``, ``rollout/exploration_rate``, ``time/fps``, ``eval/mean_reward``; the
      rows go to ``progress.csv`` in the same directory, with the columns of ``_FIELDS``.
    """

    def __init__(self, agent, loop, progress, log_dir, start, end, interval):
        self.start, self.end, self.interval = start, end, float(interval)
        self.t0 = self.t_line = time.perf_counter()
        self.bar = self.plain = None
        if progress:
            tqdm = _tqdm() if sys.stdout.isatty() else None
            if tqdm is not None:
                self.bar = tqdm(total=end - start, unit=" steps", desc="DQN", leave=True)
            else:
                self.plain = True
        self.env, self.monitor, self.writer = agent.env, None, None
        self.csv_file = self.csv = None
        if log_dir is not None:
            self.monitor = _monitor(agent.env, loop, log_dir)
            self.env = self.monitor
            self.writer = self.monitor.tensorboard
            path = os.path.join(self.monitor.tensorboard_dir, "progress.csv")
            new = not os.path.exists(path)
            self.csv_file = open(path, "a", newline="")
            self.csv = csv.DictWriter(self.csv_file, fieldnames=_FIELDS)
            if new:
                self.csv.writeheader()
        self.last = {}
        self._losses = []

    def log(self, agent, loop, info):
        now = time.perf_counter()
        step = info["num_timesteps"]
        if info["loss"] is not None and (self.writer is not None or self.bar is not None
                                         or self.plain):
            self._losses.append(info["loss"])
        due = info["episode_returns"] or "eval_return" in info
        if not due and not (self.plain and now - self.t_line >= self.interval):
            if self.bar is not None:
                self.bar.n = step - self.start
            return
        losses = [float(np.mean(np.asarray(x))) for x in self._losses]
        self._losses = []
        row = {"num_timesteps": step, "num_updates": info["num_updates"],
               "episodes": loop.episodes,
               "ep_return_mean": (float(np.mean(loop.last_returns)) if loop.last_returns
                                  else math.nan),
               "loss": float(np.mean(losses)) if losses else math.nan,
               "epsilon": info["epsilon"],
               "steps_per_second": (step - self.start) / max(now - self.t0, 1e-9),
               "eval_return": info.get("eval_return", math.nan)}
        self.last = row
        if self.writer is not None:
            tags = {"rollout/ep_rew_mean": "ep_return_mean", "train/loss": "loss",
                    "rollout/exploration_rate": "epsilon", "time/fps": "steps_per_second",
                    "eval/mean_reward": "eval_return"}
            for tag, name in tags.items():
                if not math.isnan(row[name]):
                    self.writer.add_scalar(tag, row[name], step)
            self.csv.writerow(row)
        if self.bar is not None:
            self.bar.n = step - self.start
            self.bar.set_postfix(ret=f"{row['ep_return_mean']:.1f}", eps=f"{row['epsilon']:.3f}",
                                 refresh=False)
            self.bar.refresh()
        elif self.plain and (now - self.t_line >= self.interval or "eval_return" in info):
            self.t_line = now
            print(self._line(row), flush=True)

    @staticmethod
    def _line(row):
        parts = [f"steps {row['num_timesteps']}", f"episodes {row['episodes']}",
                 f"return(100) {row['ep_return_mean']:.1f}", f"loss {row['loss']:.4f}",
                 f"epsilon {row['epsilon']:.3f}", f"{row['steps_per_second']:.0f} steps/s"]
        if not math.isnan(row["eval_return"]):
            parts.append(f"eval {row['eval_return']:.1f}")
        return "DQN | " + " | ".join(parts)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.plain and self.last:
            print(self._line(self.last), flush=True)
        if self.writer is not None:
            self.monitor.close(close_env=False)  # the agent's envs stay open
            self.csv_file.close()


def _monitor(envs, loop, log_dir):
    """A :class:`~coaxlike.wrappers.VectorTrainMonitor` over ``envs`` that goes on from the
    collection loop's state: each sub-env's running length and return; a sub-env whose next
    step is gymnasium's autoreset step (which the monitor does not count) starts at -1."""
    monitor = VectorTrainMonitor(envs, tensorboard_dir=os.fspath(log_dir), name="DQN",
                                 level=logging.WARNING)  # episode lines: the bar shows them
    monitor.ep = loop.episodes
    monitor.t = np.where(loop.resetting, -1, loop.lengths).astype(np.int64)
    monitor.G = np.array(loop.returns, np.float64)
    return monitor


def _tqdm():
    """tqdm if installed (the ``demo`` extra), else None (plain lines instead)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm
