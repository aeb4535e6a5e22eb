"""Progress and logs of :meth:`DQN.learn`: a tqdm bar or plain lines, TensorBoard and CSV."""
import csv
import math
import os
import sys
import time

import numpy as np

__all__ = []  # private module

_FIELDS = ("num_timesteps", "num_updates", "episodes", "ep_return_mean", "loss", "epsilon",
           "steps_per_second", "eval_return")


class Logger:
    """Writes one row per round that finished an episode, trained or evaluated.

    * progress: a tqdm bar when stdout is a terminal, otherwise a plain line every
      ``interval`` seconds (and at the end);
    * ``log_dir``: TensorBoard scalars (tensorboardX) under the SB3-style tags
      ``rollout/ep_rew_mean``, ``train/loss``, ``rollout/exploration_rate``, ``time/fps``,
      ``eval/mean_reward``, and ``progress.csv`` with the columns of ``_FIELDS``.
    """

    def __init__(self, progress, log_dir, start, end, interval):
        self.start, self.end, self.interval = start, end, float(interval)
        self.t0 = self.t_line = time.perf_counter()
        self.bar = self.plain = None
        if progress:
            tqdm = _tqdm() if sys.stdout.isatty() else None
            if tqdm is not None:
                self.bar = tqdm(total=end - start, unit=" steps", desc="DQN", leave=True)
            else:
                self.plain = True
        self.writer = self.csv_file = self.csv = None
        if log_dir is not None:
            try:
                from tensorboardX import SummaryWriter
            except ImportError as error:
                raise ImportError("log_dir needs tensorboardX: pip install "
                                  "'coaxlike[tensorboard]'") from error
            os.makedirs(log_dir, exist_ok=True)
            self.writer = SummaryWriter(log_dir)
            path = os.path.join(log_dir, "progress.csv")
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
            self.writer.close()
            self.csv_file.close()


def _tqdm():
    """tqdm if installed (the ``demo`` extra), else None (plain lines instead)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm
