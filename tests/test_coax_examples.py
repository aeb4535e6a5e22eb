"""examples/coax/: coax-style scripts (``import coaxlike as coax``) run to their own stopping
criteria (slow: a few thousand updates each)."""
import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples", "coax")


def run(script, *args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, done.stderr


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
