"""The Atari example end to end: a CI smoke run of a few thousand steps (slow)."""
import numpy as np
import pytest

from .test_examples import load_example


@pytest.mark.slow
def test_dqn_atari_smoke_run(tmp_path):
    pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    tensorboard = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    pytest.importorskip("tensorboardX")
    dqn = load_example("dqn_atari")
    out = dqn.train(steps=3000, warmup=1000, capacity=5000, logdir=str(tmp_path),
                    progress=False)
    assert out["steps"] == 3000 and 2990 <= out["buffer_len"] <= 3000
    assert 490 <= out["updates"] <= 501  # every 4th step after the 1000-step warm-up
    # one 84x84 frame per step (7056 bytes) plus indices and the frame ring's margin
    assert out["bytes_per_transition"] < 7056 * 1.12
    (run,) = tmp_path.iterdir()  # TrainMonitor writes to a sub-directory named by the time
    events = tensorboard.EventAccumulator(str(run))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"episode/return", "loss", "throughput/env_steps_per_second"} <= tags, tags
    returns = [e.value for e in events.Scalars("episode/return")]
    # every finished episode, then the unfinished one (written on close)
    assert returns[:-1] == out["episode_returns"] and len(returns) >= 3
    assert np.all(np.isfinite([e.value for e in events.Scalars("loss")]))
