"""examples/coax/: every coax-style script (``import coaxlike as coax``) runs its loop for a
few steps in the default run; the slow run takes them to their own stopping criteria (a few
thousand updates each)."""
import glob
import os
import runpy
import subprocess
import sys

import pytest

import coaxlike

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples", "coax")


def run(script, *args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, done.stderr


# env steps each script takes in the smoke run: enough to pass its warm-up into learning
SMOKE_STEPS = {"cartpole_dqn.py": 1_020}


class _BudgetSpent(Exception):
    pass


# coax's CartPole example uses CartPole-v0, which gymnasium flags as out of date
@pytest.mark.filterwarnings("ignore:.*environment CartPole-v0 is out of date")
@pytest.mark.parametrize("script", sorted(os.path.basename(p) for p in
                                          glob.glob(os.path.join(EXAMPLES, "*.py"))))
def test_every_example_runs_its_loop_into_learning(script, tmp_path, monkeypatch):
    """In this process (a fresh interpreter spends seconds importing JAX): the monitor every
    coax script wraps its env in stops the script after a few steps; by then the learner
    has updated and its metrics reached the monitor."""
    budget = SMOKE_STEPS.get(script, 30)
    step, record_metrics = coaxlike.wrappers.TrainMonitor.step, \
        coaxlike.wrappers.TrainMonitor.record_metrics
    recorded = []

    def step_within_budget(self, action):
        if self.T >= budget:
            raise _BudgetSpent
        return step(self, action)

    def record(self, metrics):
        recorded.extend(metrics)
        return record_metrics(self, metrics)

    monkeypatch.setattr(coaxlike.wrappers.TrainMonitor, "step", step_within_budget)
    monkeypatch.setattr(coaxlike.wrappers.TrainMonitor, "record_metrics", record)
    monkeypatch.setattr(sys, "argv", [script, str(tmp_path)])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(_BudgetSpent):
        runpy.run_path(os.path.join(EXAMPLES, script), run_name="__main__")
    assert "loss" in recorded


@pytest.mark.slow
@pytest.mark.parametrize("script", ["frozen_lake_qlearning.py"])
def test_frozen_lake_example_solves_the_lake(script, tmp_path):
    out, err = run(script, cwd=tmp_path)
    assert "solved after" in out and "reward 1.0" in out
    assert "ep: 1," in err  # TrainMonitor's episode lines reach the log


@pytest.mark.slow
def test_cartpole_dqn_example_solves_and_writes_logs_and_a_gif(tmp_path):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    Image = pytest.importorskip("PIL.Image")
    out, err = run("cartpole_dqn.py", str(tmp_path), cwd=tmp_path)
    assert "greedy episode" in out
    (run_dir,) = glob.glob(str(tmp_path / "cartpole_dqn" / "*"))
    acc = event_accumulator.EventAccumulator(run_dir, size_guidance={"scalars": 0})
    acc.Reload()
    returns = [e.value for e in acc.Scalars("episode/return")]
    assert sum(returns[-10:]) / 10 > 150 and "loss" in acc.Tags()["scalars"]
    with Image.open(tmp_path / "cartpole_dqn.gif") as gif:
        assert gif.n_frames > 1
