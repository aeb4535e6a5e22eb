"""TrainMonitor: coax's training monitor for gymnasium envs and vector envs."""
import math
import time

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from ._monitor_base import _MonitorBase

__all__ = ["TrainMonitor", "VectorTrainMonitor"]

_DOC_ARGS = """
    Args:
        env: the environment to monitor{vector}.
        tensorboard_dir: optional directory for TensorBoard event files (written with
            tensorboardX: ``pip install 'coaxlike[tensorboard]'``). A sub-directory named
            after the start time (``%Y%m%d_%H%M%S``) is appended unless the path already ends
            in one, as coax does. Point ``tensorboard --logdir`` at it.
        tensorboard_write_all: write every recorded metric at the step it was recorded
            (``True``) rather than its average over the episode (``False``, the default).
        log_all_metrics: show every metric in the log line; by default only names ending in
            ``loss``, ``entropy`` or ``kl_div`` and names starting with ``throughput/``.
        smoothing: the window of ``avg_G``: ``n = min(smoothing, n + 1)``,
            ``avg_G += (G - avg_G) / n`` at the end of each episode.
        **logger_kwargs: ``name``, ``level`` (default ``logging.INFO``), ``output_filepath``,
            ``output_level``, as in :func:`coaxlike.utils.enable_logging`. The lines go to the
            logger ``coaxlike.TrainMonitor`` (or ``coaxlike.TrainMonitor.<name>``), set to
            ``level``; with ``output_filepath`` also to that file. The root logger is never
            configured: while no handler of the application's would receive the lines (no
            handler on the root logger), the monitor's own handler writes them to stderr, as
            coax's did; call :func:`logging.basicConfig` or
            :func:`~coaxlike.utils.enable_logging` to send them elsewhere.

    Raises:
        TypeError: for a bad flag, ``tensorboard_dir``, ``name`` or an unknown keyword argument.
        ValueError: if ``smoothing < 1``.
"""


class TrainMonitor(_MonitorBase, gym.Wrapper):
    __doc__ = """Monitor training on a gymnasium env: counters, episode logs, TensorBoard.

    A drop-in for ``coax.wrappers.TrainMonitor``. Each episode ends with one ``logging`` line
    (``ep``, ``T``, ``G``, ``avg_r``, ``avg_G``, ``t``, ``dt`` and the averages of the metrics
    recorded with :meth:`record_metrics` during the episode), written when the next episode is
    reset (so that metrics recorded after the last step count), on :meth:`close`, or when the
    interpreter exits (coax scripts often end without ``close``; coax itself writes a line
    only at the next reset, so its last episode goes unlogged). With
    ``tensorboard_dir`` the same figures go to TensorBoard as ``episode/return``,
    ``episode/steps``, ``episode/avg_reward``, ``episode/avg_step_duration_ms``,
    ``episode/episode``, the metric averages under their own names and a histogram
    ``actions`` (Discrete action spaces), all at global step ``T``.

    Attributes:
        T: environment steps taken since construction (or :meth:`reset_global`). Unlike coax,
            a reset does not count as a step.
        ep: episodes started (the current episode's number).
        t: steps in the current episode.
        G: return of the current episode (sum of rewards so far).
        avg_G: running mean of finished episodes' returns, see ``smoothing``.
        avg_r: ``G / t`` (NaN before the first step).
        dt_ms: mean wall time of one step of the current episode, in milliseconds.
        skipped_when_recording: ``True`` (a class attribute):
            :func:`coaxlike.utils.generate_gif` records the env inside, so that a recorded
            episode does not count as training.

    A :class:`gymnasium.vector.VectorEnv` gets a :class:`VectorTrainMonitor` instead: the call
    ``TrainMonitor(vector_env, ...)`` returns one.
    """ + _DOC_ARGS.format(vector="") + """
    Examples:
        >>> import gymnasium as gym
        >>> from coaxlike.wrappers import TrainMonitor
        >>> env = TrainMonitor(gym.make("CartPole-v1"), name="demo")
        >>> s, info = env.reset(seed=0)
        >>> s, r, terminated, truncated, info = env.step(0)
        >>> env.T, env.ep, env.t, env.G
        (1, 1, 1, 1.0)
        >>> env.record_metrics({"loss": 0.25})
        >>> env.close()
    """

    skipped_when_recording = True

    def __new__(cls, env=None, *args, **kwargs):
        if isinstance(env, VectorEnv):
            return VectorTrainMonitor(env, *args, **kwargs)
        return super().__new__(cls)

    def __init__(self, env, tensorboard_dir=None, tensorboard_write_all=False,
                 log_all_metrics=False, smoothing=10, **logger_kwargs):
        gym.Wrapper.__init__(self, env)
        self._init_monitor(tensorboard_dir, tensorboard_write_all, log_all_metrics, smoothing,
                           logger_kwargs)

    def _reset_monitor(self):
        super()._reset_monitor()
        self._new_episode()

    def _new_episode(self):
        self.t = 0
        self.G = 0.0
        self._t_start = time.perf_counter()
        self._t_end = None            # set when the episode terminates or is truncated
        space = self.action_space
        self._action_counts = (np.zeros(space.n, np.int64) if self._tensorboard_dir is not None
                               and isinstance(space, gym.spaces.Discrete) else None)

    def reset_global(self):
        """Reset every counter (``T``, ``ep``, ``avg_G``, periods), not only the episode's."""
        self._reset_monitor()

    @property
    def dt_ms(self):
        """Mean wall time of one step of the current episode in ms (NaN before a step)."""
        if self.t <= 0:
            return math.nan
        end = time.perf_counter() if self._t_end is None else self._t_end
        return 1000.0 * (end - self._t_start) / self.t

    @property
    def avg_r(self):
        """Mean reward per step of the current episode, ``G / t`` (NaN before a step)."""
        return self.G / self.t if self.t > 0 else math.nan

    def reset(self, **kwargs):
        """Write the previous episode's line, start a new episode (``ep += 1``) and reset
        the env; keyword arguments go to the env's ``reset``."""
        self._write_pending_episode()
        self.ep += 1
        self._new_episode()
        self._env_closed = False
        return self.env.reset(**kwargs)

    def step(self, action):
        """Step the env and update ``T``, ``t``, ``G`` (and ``avg_G`` at the episode's end).

        ``info["monitor"]`` holds ``{"T": ..., "ep": ...}`` after the step.
        """
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._action_counts is not None:
            self._action_counts[action] += 1
        self.t += 1
        self.T += 1
        self.G += float(reward)
        if (terminated or truncated) and self._t_end is None:
            self._t_end = time.perf_counter()
            self._episode_finished(self.G)
        info["monitor"] = {"T": self.T, "ep": self.ep}
        return obs, reward, terminated, truncated, info

    def _write_pending_episode(self):
        if self.t > 0:
            self._write_episode(self.G, self.t, self.dt_ms, self._action_counts)
            self._flush_window()
            self.t = 0  # written: a second call writes nothing

    def _flush_at_exit(self):
        self._write_pending_episode()
        self._close_monitor()

    def close(self, *, close_env=True):
        """Write the last episode's line, close the TensorBoard writer and the env.

        Idempotent: the line is written once and the writer closed once, and the env is
        closed once until the next :meth:`reset`. A monitor still open when the interpreter
        exits does the same, except closing the env: the last episode (finished or not) is
        logged and its scalars are written.

        Args:
            close_env: also close the wrapped env (default). ``False`` finishes only the
                monitor's own output, for a caller that goes on using the env.

        Examples:
            >>> import gymnasium as gym
            >>> from coaxlike.wrappers import TrainMonitor
            >>> base = gym.make("CartPole-v1")
            >>> env = TrainMonitor(base)
            >>> _ = env.reset(seed=0)
            >>> env.close(close_env=False)    # the monitor is done, the env still runs
            >>> _ = base.reset(seed=0)
            >>> env.close(); env.close()      # a second close does nothing
        """
        self._write_pending_episode()
        self._close(close_env, super().close)


class VectorTrainMonitor(_MonitorBase, VectorWrapper):
    __doc__ = """:class:`TrainMonitor` for a gymnasium vector env (``gym.make_vec``).

    The same counters, logs and TensorBoard scalars, counted over all sub-environments:

    - ``T`` counts transitions: ``num_envs`` per step, minus the sub-environments whose step
      only resets them (gymnasium's default ``NEXT_STEP`` autoreset ignores the action of the
      step after an episode's end and returns reward 0: that step is not counted).
    - ``ep`` counts **finished** episodes (on a single env it counts started ones).
    - ``t``, ``G`` and ``avg_r`` are arrays of shape ``(num_envs,)``: each sub-environment's
      current episode.
    - One log line (and one set of ``episode/*`` scalars) per finished episode, written at the
      step it finishes; the metric averages cover the steps since the previous line.
    - ``dt_ms`` is the mean wall time of one vector step since the previous episode line.
    - :meth:`reset` drops the unfinished episodes of the sub-environments it resets (all of
      them, or those in ``options["reset_mask"]``) without logging them.
    """ + _DOC_ARGS.format(vector=" (a :class:`gymnasium.vector.VectorEnv`)") + """
    Examples:
        >>> import gymnasium as gym, numpy as np
        >>> from coaxlike.wrappers import TrainMonitor
        >>> env = TrainMonitor(gym.make_vec("CartPole-v1", num_envs=2))
        >>> type(env).__name__
        'VectorTrainMonitor'
        >>> S, info = env.reset(seed=0)
        >>> S, R, terminated, truncated, info = env.step(np.array([0, 1]))
        >>> env.T, env.t.tolist(), env.G.tolist()
        (2, [1, 1], [1.0, 1.0])
        >>> env.close()
    """

    def __init__(self, env, tensorboard_dir=None, tensorboard_write_all=False,
                 log_all_metrics=False, smoothing=10, **logger_kwargs):
        VectorWrapper.__init__(self, env)
        mode = (env.metadata or {}).get("autoreset_mode", AutoresetMode.NEXT_STEP)
        self._next_step_autoreset = AutoresetMode(mode) == AutoresetMode.NEXT_STEP
        self._init_monitor(tensorboard_dir, tensorboard_write_all, log_all_metrics, smoothing,
                           logger_kwargs)

    def _reset_monitor(self):
        super()._reset_monitor()
        n = self.num_envs
        self.t = np.zeros(n, np.int64)
        self.G = np.zeros(n, np.float64)
        self._resetting = np.zeros(n, bool)   # the sub-env's next step only resets it
        self._any_resetting = False
        space = self.single_action_space
        self._action_counts = (np.zeros(space.n, np.int64) if self._tensorboard_dir is not None
                               and isinstance(space, gym.spaces.Discrete) else None)
        self._new_window()

    def _new_window(self):
        self._window_start = time.perf_counter()
        self._window_steps = 0

    def reset_global(self):
        """Reset every counter (``T``, ``ep``, ``avg_G``, periods, the episodes' ``t``/``G``)."""
        self._reset_monitor()

    @property
    def dt_ms(self):
        """Mean wall time of one vector step since the last episode line, in ms."""
        if self._window_steps <= 0:
            return math.nan
        return 1000.0 * (time.perf_counter() - self._window_start) / self._window_steps

    @property
    def avg_r(self):
        """``G / t`` per sub-environment, shape ``(num_envs,)`` (NaN where ``t == 0``)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.t > 0, self.G / np.maximum(self.t, 1), np.nan)

    def reset(self, *, seed=None, options=None):
        """Reset the env (all sub-environments, or ``options["reset_mask"]``); their
        unfinished episodes are dropped."""
        result = self.env.reset(seed=seed, options=options)
        self._env_closed = False
        mask = None if options is None else options.get("reset_mask")
        mask = np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        self.t[mask] = 0
        self.G[mask] = 0.0
        self._resetting[mask] = False
        self._any_resetting = bool(self._resetting.any())
        return result

    def step(self, actions):
        """Step the env and update the counters; episodes that end are logged."""
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        self._window_steps += 1
        if self._any_resetting:  # skip the autoreset steps
            active = ~self._resetting
            self.T += int(active.sum())
            self.t += active
            self.G += np.where(active, rewards, 0.0)
            if self._action_counts is not None:
                np.add.at(self._action_counts, np.asarray(actions)[active], 1)
        else:
            self.T += self.num_envs
            self.t += 1
            self.G += rewards
            if self._action_counts is not None:
                np.add.at(self._action_counts, np.asarray(actions), 1)
        done = np.logical_or(terminated, truncated)
        if self._next_step_autoreset:
            self._resetting = done
            self._any_resetting = bool(done.any())
            if self._any_resetting:
                self._finish(done)
        elif done.any():
            self._finish(done)
        return obs, rewards, terminated, truncated, info

    def _finish(self, done):
        dt_ms = self.dt_ms
        finished = np.flatnonzero(done)
        for k, i in enumerate(finished):
            self.ep += 1
            G = float(self.G[i])
            self._episode_finished(G)
            counts = self._action_counts if k == len(finished) - 1 else None
            self._write_episode(G, int(self.t[i]), dt_ms, counts)
        self._flush_window()
        self.t[finished] = 0
        self.G[finished] = 0.0
        if self._action_counts is not None:
            self._action_counts[:] = 0
        self._new_window()

    def close(self, *, close_env=True, **kwargs):
        """Close the TensorBoard writer and the env (unfinished episodes are not logged).

        Idempotent, as :meth:`TrainMonitor.close`: the env is closed once until the next
        :meth:`reset`.

        Args:
            close_env: also close the wrapped vector env (default); ``False`` closes only the
                monitor's writer, for a caller that goes on using the env.
            **kwargs: passed on to the vector env's ``close`` (e.g. ``terminate=True``).
        """
        self._close(close_env, lambda: super(VectorTrainMonitor, self).close(**kwargs))
