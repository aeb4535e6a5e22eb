"""The Atari example end to end: a CI smoke run of a few thousand steps (slow)."""
import numpy as np
import pytest

from .test_examples import load_example


@pytest.mark.slow
def test_dqn_atari_smoke_run(tmp_path):
    pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    tensorboard = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    dqn = load_example("dqn_atari")
    out = dqn.train(steps=3000, warmup=1000, capacity=5000, logdir=str(tmp_path),
                    progress=False)
    assert out["steps"] == 3000 and 2990 <= out["buffer_len"] <= 3000
    assert 490 <= out["updates"] <= 501  # every 4th step after the 1000-step warm-up
    # one 84x84 frame per step (7056 bytes) plus indices and the frame ring's margin
    assert out["bytes_per_transition"] < 7056 * 1.12
    events = tensorboard.EventAccumulator(str(tmp_path))
    events.Reload()
    assert {"speed/env_steps_per_second", "train/loss"} <= set(events.Tags()["scalars"])
    assert np.all(np.isfinite([e.value for e in events.Scalars("train/loss")]))
