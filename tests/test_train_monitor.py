"""coaxlike.wrappers.TrainMonitor: counters against hand-computed values, episode log lines,
TensorBoard events read back from disk, periods, vector envs, counter checkpoints, errors."""
import contextlib
import glob
import logging
import math
import os

import gymnasium as gym
import jax.numpy as jnp
import numpy as np
import pytest

from coaxlike.td_learning import Metrics
from coaxlike.wrappers import TrainMonitor, VectorTrainMonitor

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator")


class ScriptedEnv(gym.Env):
    """Episodes of fixed lengths (cycled); the reward of a step is ``action + 1``."""

    observation_space = gym.spaces.Discrete(3)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, lengths=(3, 2, 4), truncate=False):
        self.lengths, self.truncate, self.episode = lengths, truncate, -1

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        return 0, {}

    def step(self, action):
        self.t += 1
        end = self.t >= self.lengths[self.episode % len(self.lengths)]
        return self.t % 3, float(action + 1), end and not self.truncate, end and self.truncate, {}


def play(env, actions_per_episode):
    """Run one episode per list of actions; returns the per-episode returns seen."""
    for actions in actions_per_episode:
        env.reset()
        for a in actions:
            *_, terminated, truncated, _ = env.step(a)
        assert terminated or truncated


def read_events(logdir):
    """{tag: [(step, value), ...]} for scalars and the histogram tags of one run."""
    (run,) = glob.glob(os.path.join(logdir, "*"))
    acc = event_accumulator.EventAccumulator(run, size_guidance={"scalars": 0,
                                                                 "histograms": 0})
    acc.Reload()
    scalars = {tag: [(e.step, e.value) for e in acc.Scalars(tag)]
               for tag in acc.Tags()["scalars"]}
    return scalars, acc.Tags()["histograms"], acc, run


def test_counters_and_smoothed_average_return_by_hand():
    env = TrainMonitor(ScriptedEnv(), smoothing=2)
    assert (env.T, env.ep, env.t, env.G) == (0, 0, 0, 0.0)
    assert math.isnan(env.avg_r) and math.isnan(env.dt_ms)
    env.reset()
    assert (env.T, env.ep) == (0, 1)  # a reset is not a step
    _, r, terminated, _, info = env.step(1)
    assert info["monitor"] == {"T": 1, "ep": 1} and r == 2.0
    env.step(0)
    assert (env.t, env.G, env.avg_r) == (2, 3.0, 1.5)
    *_, terminated, _, _ = env.step(1)
    assert terminated and env.G == 5.0
    assert env.avg_G == 5.0  # available right after the last step, before the next reset
    assert env.dt_ms > 0
    play(env, [[0, 0], [1, 1, 1, 1]])          # returns 2 and 8
    # smoothing=2: n = 1, 2, 2 -> 5, 5 + (2 - 5) / 2 = 3.5, 3.5 + (8 - 3.5) / 2 = 5.75
    assert env.avg_G == pytest.approx(5.75)
    assert (env.T, env.ep, env.t, env.G) == (9, 3, 4, 8.0)
    env.reset_global()
    assert (env.T, env.ep, env.t, env.G, env.avg_G) == (0, 0, 0, 0.0, 0.0)


def test_truncation_ends_an_episode_too():
    env = TrainMonitor(ScriptedEnv(lengths=(2,), truncate=True))
    play(env, [[1, 1], [0, 0]])
    assert env.avg_G == pytest.approx(4.0 + (2.0 - 4.0) / 2)


def test_one_log_line_per_episode_with_metric_averages(caplog):
    caplog.set_level(logging.INFO, logger="coaxlike.TrainMonitor")
    env = TrainMonitor(ScriptedEnv(), name="run1")
    env.reset()
    for a in (1, 0, 1):
        env.step(a)
        env.record_metrics({"QLearning/loss": 2.0 * a, "QLearning/td_error": 7.0})
    assert caplog.records == []               # written when the next episode starts
    env.reset()
    (line,) = [r.getMessage() for r in caplog.records]
    assert caplog.records[0].name == "coaxlike.TrainMonitor.run1"
    assert "ep: 1," in line and "T: 3," in line and "G: 5," in line and "t: 3," in line
    assert "QLearning/loss: 1.33" in line     # (2 + 0 + 2) / 3
    assert "td_error" not in line             # only losses etc. unless log_all_metrics
    env.step(1)
    env.close()                               # the unfinished last episode is written
    assert len(caplog.records) == 2 and "ep: 2," in caplog.records[1].getMessage()


def test_log_all_metrics_and_learner_metrics(caplog):
    caplog.set_level(logging.INFO, logger="coaxlike.TrainMonitor")
    env = TrainMonitor(ScriptedEnv(), log_all_metrics=True)
    env.reset()
    env.step(0)
    env.record_metrics(Metrics(jnp.array([0.5, 0.1, 0.2, 0.3, 1.5])))
    env.record_metrics(Metrics(jnp.array([1.5, 0.3, 0.4, 0.5, 2.5])))
    assert env.get_metrics() == pytest.approx({"loss": 1.0, "td_error_mean": 0.2,
                                               "td_error_abs_mean": 0.3,
                                               "td_error_abs_max": 0.4, "grad_norm": 2.0})
    env.reset()
    line = caplog.records[0].getMessage()
    assert "loss: 1," in line and "grad_norm: 2" in line and "td_error_mean: 0.2" in line
    assert env.get_metrics() == {}            # a new window starts with the new episode


def test_many_metrics_in_one_episode_are_folded_exactly():
    env = TrainMonitor(ScriptedEnv())
    env.reset()
    for i in range(1000):                     # more than the pending window
        env.record_metrics({"x": float(i)})
    assert env.get_metrics() == {"x": pytest.approx(499.5)}


def test_a_recorded_dict_is_copied():
    env = TrainMonitor(ScriptedEnv())
    m = {"loss": 1.0}
    env.record_metrics(m)
    m["loss"] = 3.0
    env.record_metrics(m)
    assert env.get_metrics() == {"loss": 2.0}


@pytest.mark.parametrize("bad, match", [
    ([("loss", 1.0)], "mapping"),
    ({1: 1.0}, "names must be str"),
    ({"loss": np.ones(3)}, "'loss' must be a scalar"),
    ({"ok": 1.0, "loss": "high"}, "'loss' must be a scalar"),
])
def test_bad_metrics_raise_and_record_nothing(bad, match):
    env = TrainMonitor(ScriptedEnv())
    with pytest.raises(TypeError, match=match):
        env.record_metrics(bad)
    assert env.get_metrics() == {}


def test_tensorboard_scalars_and_histogram_read_back(tmp_path):
    env = TrainMonitor(ScriptedEnv(), tensorboard_dir=str(tmp_path))
    env.reset()
    for a in (1, 0, 1):
        env.step(a)
        env.record_metrics({"QLearning/loss": float(a)})
    play(env, [[0, 0]])
    env.close()
    scalars, histograms, acc, run = read_events(tmp_path)
    assert os.path.basename(run)[8] == "_" and len(os.path.basename(run)) == 15
    assert scalars["episode/return"] == [(3, 5.0), (5, 2.0)]
    assert scalars["episode/steps"] == [(3, 3.0), (5, 2.0)]
    assert scalars["episode/episode"] == [(3, 1.0), (5, 2.0)]
    assert scalars["episode/avg_reward"] == [(3, pytest.approx(5 / 3)), (5, 1.0)]
    assert all(v > 0 for _, v in scalars["episode/avg_step_duration_ms"])
    assert scalars["QLearning/loss"] == [(3, pytest.approx(2 / 3))]  # the episode average
    assert histograms == ["actions"]
    first = acc.Histograms("actions")[0]
    assert first.step == 3 and first.histogram_value.num == 3   # actions 1, 0, 1


def test_tensorboard_write_all_writes_every_value_at_its_step(tmp_path):
    logdir = tmp_path / "20260101_120000"     # already time-stamped: used as it is
    env = TrainMonitor(ScriptedEnv(), tensorboard_dir=logdir, tensorboard_write_all=True)
    env.reset()
    for a in (1, 0, 1):
        env.step(a)
        env.record_metrics({"loss": 10.0 * a})
    env.close()
    assert env.tensorboard_dir == str(logdir)
    scalars, *_ = read_events(tmp_path)
    assert scalars["loss"] == [(1, 10.0), (2, 0.0), (3, 10.0)]


def test_period_fires_once_per_period_and_catches_up():
    env = TrainMonitor(ScriptedEnv())
    fired = []
    for T in range(0, 26):
        env.T = T
        fired.append(env.period("a", T_period=10))
    assert [T for T, f in enumerate(fired) if f] == [10, 20]
    env.T = 100                               # 9 periods passed: one True per call
    assert [env.period("a", T_period=10) for _ in range(10)] == [True] * 8 + [False] * 2
    env.ep = 3
    assert env.period("b", ep_period=3) and not env.period("b", ep_period=3)
    assert not env.period("c")
    with pytest.raises(ValueError, match="T_period must be an int >= 1, got 0"):
        env.period("d", T_period=0)
    with pytest.raises(TypeError, match="ep_period must be an int >= 1, got float 2.0"):
        env.period("d", ep_period=2.0)


def test_counters_round_trip_through_a_file(tmp_path):
    env = TrainMonitor(ScriptedEnv())
    play(env, [[1, 1, 1], [0, 0]])
    env.period("gif", T_period=4)
    path = tmp_path / "sub" / "counters.json"
    env.save_counters(path)
    other = TrainMonitor(ScriptedEnv())
    other.load_counters(path)
    assert other.get_counters() == env.get_counters()
    assert (other.T, other.ep, other.avg_G) == (5, 2, 4.0)
    assert not other.period("gif", T_period=4)  # the period's count came back too
    before = other.get_counters()
    with pytest.raises(TypeError, match="counters must be a dict"):
        other.set_counters({"T": 1})
    assert other.get_counters() == before


def test_constructor_errors():
    with pytest.raises(ValueError, match="smoothing must be a number >= 1, got 0"):
        TrainMonitor(ScriptedEnv(), smoothing=0)
    with pytest.raises(TypeError, match="tensorboard_write_all must be a bool"):
        TrainMonitor(ScriptedEnv(), tensorboard_write_all="yes")
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['colour'\]"):
        TrainMonitor(ScriptedEnv(), colour="red")
    with pytest.raises(TypeError, match="tensorboard_dir must be a path"):
        TrainMonitor(ScriptedEnv(), tensorboard_dir=3)


def test_works_under_gymnasium_wrappers_and_forwards_the_spec():
    env = TrainMonitor(gym.make("CartPole-v1"))
    assert env.spec.max_episode_steps == 500 and env.action_space.n == 2
    s, info = env.reset(seed=0)
    assert s.shape == (4,)


def make_vec(lengths, mode=gym.vector.AutoresetMode.NEXT_STEP):
    return gym.vector.SyncVectorEnv([lambda n=n: ScriptedEnv(lengths=(n,)) for n in lengths],
                                    autoreset_mode=mode)


def test_vector_env_counts_transitions_not_autoreset_steps(caplog, tmp_path):
    caplog.set_level(logging.INFO, logger="coaxlike.TrainMonitor")
    env = TrainMonitor(make_vec([2, 3]), tensorboard_dir=tmp_path)
    assert isinstance(env, VectorTrainMonitor)
    env.reset(seed=0)
    for _ in range(2):
        env.step(np.array([1, 0]))
    # sub-env 0 finished (return 4, 2 steps); sub-env 1 is at t=2
    assert (env.T, env.ep, env.t.tolist(), env.G.tolist()) == (4, 1, [0, 2], [0.0, 2.0])
    env.step(np.array([1, 0]))               # sub-env 0 only resets; sub-env 1 finishes
    assert (env.T, env.ep, env.t.tolist(), env.G.tolist()) == (5, 2, [0, 0], [0.0, 0.0])
    env.step(np.array([0, 1]))               # sub-env 0 plays, sub-env 1 resets
    assert (env.T, env.ep, env.t.tolist(), env.G.tolist()) == (6, 2, [1, 0], [1.0, 0.0])
    assert env.avg_G == pytest.approx(4.0 + (3.0 - 4.0) / 2)
    np.testing.assert_array_equal(env.avg_r, [1.0, np.nan])
    assert ["G: 4," in r.getMessage() and "T: 4," in r.getMessage()
            for r in caplog.records] == [True, False]
    env.close()
    scalars, histograms, acc, _ = read_events(tmp_path)
    assert scalars["episode/return"] == [(4, 4.0), (5, 3.0)]
    assert scalars["episode/steps"] == [(4, 2.0), (5, 3.0)]
    assert histograms == ["actions"]


def test_vector_env_same_step_autoreset_and_partial_reset():
    env = TrainMonitor(make_vec([2, 3], gym.vector.AutoresetMode.SAME_STEP))
    env.reset(seed=0)
    for _ in range(3):
        env.step(np.array([1, 1]))
    # sub-env 0: episode of 2 (return 4) then 1 step of the next; sub-env 1: return 6
    assert (env.T, env.ep, env.t.tolist(), env.avg_G) == (6, 2, [1, 0], 5.0)
    env.reset(options={"reset_mask": np.array([True, False])})
    assert env.t.tolist() == [0, 0] and env.G.tolist() == [0.0, 0.0]


def test_vector_monitor_on_a_gymnasium_vector_env():
    env = TrainMonitor(gym.make_vec("CartPole-v1", num_envs=3))
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    finished, reset_steps, previous = 0, 0, np.zeros(3, bool)
    for _ in range(60):
        *_, terminated, truncated, _ = env.step(rng.integers(0, 2, size=3))
        reset_steps += previous.sum()
        previous = terminated | truncated
        finished += previous.sum()
    assert finished > 0 and env.ep == finished
    assert env.T == 60 * 3 - reset_steps
    assert np.all(env.G == env.t)             # CartPole pays 1 per step
    env.close()


EXIT_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_train_monitor import ScriptedEnv
from coaxlike.wrappers import TrainMonitor
monitors = []
for name, actions in {cases!r}:  # one monitor per case, all left open
    env = TrainMonitor(ScriptedEnv(lengths=(3, 5)), tensorboard_dir={logdir!r} + "/" + name,
                       name=name)
    env.reset()
    for a in (0, 0, 0):
        env.step(a)
    env.reset()                                 # the first episode's line is written here
    for a in actions:
        env.step(a)
    env.record_metrics({{"QLearning/loss": 0.5}})  # after the last step: part of the last line
    monitors.append(env)
print("exiting without close()", flush=True)
"""


def test_exit_without_close_writes_the_last_episode(tmp_path):
    """coax scripts end without ``env.close()``: the last episode, unfinished or just
    finished, is still logged and its scalars reach the event file (before tensorboardX's own
    exit handler closes the writer). One interpreter for both cases (importing JAX costs
    seconds)."""
    import subprocess
    import sys
    cases = [("unfinished", (0, 0)), ("finished", (0, 0, 0, 0, 0))]
    script = EXIT_SCRIPT.format(tests=os.path.dirname(__file__), logdir=str(tmp_path),
                                cases=cases)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    for name, actions in cases:
        lines = [line for line in done.stderr.splitlines()
                 if f"TrainMonitor.{name}|" in line and "ep: " in line]
        assert len(lines) == 2 and "ep: 1," in lines[0] and "G: 3," in lines[0]
        t = len(actions)
        assert f"ep: 2,\tT: {3 + t}," in lines[1] and f"t: {t}," in lines[1]
        assert f"G: {t}," in lines[1] and "QLearning/loss: 0.5" in lines[1]
        # avg_G counts finished episodes only: (3 + 5) / 2 once the second one ended
        assert ("avg_G: 4," if name == "finished" else "avg_G: 3,") in lines[1]
        scalars, *_ = read_events(tmp_path / name)
        assert scalars["episode/return"] == [(3, 3.0), (3 + t, float(t))]
        assert scalars["QLearning/loss"] == [(3 + t, 0.5)]


def test_close_writes_the_last_episode_once(caplog):
    env = TrainMonitor(ScriptedEnv())
    env.reset()
    env.step(1)
    with caplog.at_level(logging.INFO):
        env.close()
        env.close()
    assert [r.getMessage()[:6] for r in caplog.records] == ["ep: 1,"]


# --- close() and logging set-up ---------------------------------------------------------------

class CountingCloses(ScriptedEnv):
    closes = 0

    def close(self):
        self.closes += 1


@pytest.mark.parametrize("vector", [False, True])
def test_close_is_idempotent_and_can_leave_the_env_open(vector, tmp_path):
    inner = CountingCloses()
    env = (gym.vector.SyncVectorEnv([lambda: inner]) if vector else inner)
    monitor = TrainMonitor(env, tensorboard_dir=tmp_path)
    monitor.reset(seed=0)
    monitor.step(np.array([1]) if vector else 1)
    monitor.tensorboard.add_scalar("x", 1.0, 0)
    monitor.close(close_env=False)                 # the monitor's output only
    assert monitor._tensorboard is None and inner.closes == 0
    monitor.close()
    monitor.close()                                # once until the next reset
    assert inner.closes == 1
    if not vector:                                 # (a closed SyncVectorEnv stays closed)
        monitor.reset(seed=1)
        monitor.close()
        assert inner.closes == 2


@contextlib.contextmanager
def bare_root():
    """The root logger as in a script that has not configured logging: no handlers, WARNING
    (pytest's capture handlers, added after the fixtures are set up, put back afterwards)."""
    root = logging.getLogger()
    handlers, level = root.handlers, root.level
    root.handlers, root.level = [], logging.WARNING
    try:
        yield root
    finally:
        root.handlers, root.level = handlers, level


def test_building_a_monitor_leaves_the_root_logger_alone(tmp_path):
    with bare_root() as root:
        env = TrainMonitor(ScriptedEnv(), name="rootless", level=logging.DEBUG,
                           output_filepath=tmp_path / "logs" / "monitor.log")
        TrainMonitor(ScriptedEnv())
        assert root.handlers == [] and root.level == logging.WARNING
    env.reset()
    env.step(0)
    env.close()
    logger = logging.getLogger("coaxlike.TrainMonitor.rootless")
    (handler,) = logger.handlers                   # the file: on the monitor's own logger
    handler.flush()
    assert "ep: 1," in (tmp_path / "logs" / "monitor.log").read_text()
    logger.removeHandler(handler)
    handler.close()


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_lines_reach_stderr_until_the_application_configures_logging(capsys):
    with bare_root() as root:
        env = TrainMonitor(ScriptedEnv(), name="fallback")
        env.reset()
        env.step(0)
        env.reset()                                # writes episode 1
        first = capsys.readouterr().err
        root.addHandler(collect := Collect())      # the application's own set-up
        env.step(0)
        env.close()                                # writes episode 2
    assert "[coaxlike.TrainMonitor.fallback|INFO] ep: 1," in first
    assert capsys.readouterr().err == ""           # not a second copy on stderr
    assert [line[:6] for line in collect.lines] == ["ep: 2,"]


def test_a_bad_logger_name_is_a_type_error():
    with pytest.raises(TypeError, match="name must be a str or None, got int"):
        TrainMonitor(ScriptedEnv(), name=3)
