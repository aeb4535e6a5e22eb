"""Tests for coaxlike.wrappers.FrameStacking and the Atari ids registered by ``import coaxlike``."""
import re
import subprocess
import sys

import gymnasium
import numpy as np
import pytest

import coaxlike
from coaxlike.experience_replay import SimpleReplayBuffer
from coaxlike.reward_tracing import NStep
from coaxlike.wrappers import FrameStacking


class CountingEnv(gymnasium.Env):
    """Observation t is an (8, 8) uint8 image filled with t; written in place (one buffer)."""

    observation_space = gymnasium.spaces.Box(0, 255, (8, 8), np.uint8)
    action_space = gymnasium.spaces.Discrete(2)

    def __init__(self, length=5):
        self.length, self._buffer = length, np.zeros((8, 8), np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self._buffer[:] = 100
        return self._buffer, {}

    def step(self, action):
        self.t += 1
        self._buffer[:] = self.t
        return self._buffer, 1.0, self.t >= self.length, False, {}


def values(s):
    return [int(frame[0, 0]) for frame in s]


def test_frames_slide_and_reset_repeats_the_first():
    env = FrameStacking(CountingEnv(), num_frames=3)
    assert env.observation_space == gymnasium.spaces.Tuple((CountingEnv.observation_space,) * 3)
    s, _ = env.reset(seed=0)
    assert values(s) == [100, 100, 100] and s in env.observation_space
    seen = []
    for _ in range(4):
        s, *_ = env.step(0)
        seen.append(values(s))
    # the inner env writes into one array: every frame was copied when it arrived
    assert seen == [[100, 100, 1], [100, 1, 2], [1, 2, 3], [2, 3, 4]]
    s, _ = env.reset()
    assert values(s) == [100, 100, 100]


@pytest.mark.parametrize("bad, error", [
    (0, ValueError), (-1, ValueError), (2.0, TypeError), ("3", TypeError), (True, TypeError)])
def test_num_frames_is_validated(bad, error):
    with pytest.raises(error, match=rf"num_frames must be an int >= 1, got (\w+ )?"
                                    rf"{re.escape(repr(bad))}$"):
        FrameStacking(CountingEnv(), bad)


def test_a_stacked_episode_costs_one_frame_per_step_in_the_buffer():
    tracer, buffer = NStep(1, 0.99), SimpleReplayBuffer(100, random_seed=0)
    # (8, 8) frames are below the pooling threshold (512 bytes): make them (64, 8)
    big = gymnasium.wrappers.TransformObservation(
        CountingEnv(length=50), lambda o: np.repeat(o, 8, axis=0),
        gymnasium.spaces.Box(0, 255, (64, 8), np.uint8))
    env = FrameStacking(big, num_frames=4)
    s, _ = env.reset(seed=0)
    done = False
    while not done:
        s_next, r, terminated, truncated, _ = env.step(0)
        done = terminated or truncated
        tracer.add(s, 0, r, done, s_next=s_next if done else None)
        while tracer:
            buffer.add(tracer.pop())
        s = s_next
    assert len(buffer) == 50
    assert buffer._storage._pools[0].count == 51  # the reset frame and one frame per step
    tb = buffer.sample(50)
    for row in range(50):  # S_next is S shifted by one frame, as the env produced it
        t = [int(f[row, 0, 0]) for f in tb.S]
        t_next = [int(f[row, 0, 0]) for f in tb.S_next]
        assert t_next[:3] == t[1:]


@pytest.mark.skipif(not coaxlike._registration.register_atari_envs(), reason="ale-py not installed")
def test_pong_with_atari_preprocessing():
    env = gymnasium.make("PongNoFrameskip-v4")
    env = FrameStacking(gymnasium.wrappers.AtariPreprocessing(env), num_frames=4)
    s, _ = env.reset(seed=0)
    assert len(s) == 4 and s[0].shape == (84, 84) and s[0].dtype == np.uint8
    assert s in env.observation_space
    for _ in range(3):
        s_next, *_ = env.step(env.action_space.sample())
    assert all(np.array_equal(a, b) for a, b in zip(s_next[:3][-2:], s_next[1:3]))
    env.close()


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
def test_import_coaxlike_registers_the_atari_ids():
    pytest.importorskip("ale_py")
    code = ("import gymnasium, coaxlike; print(gymnasium.spec('PongNoFrameskip-v4').id, "
            "gymnasium.spec('ALE/Breakout-v5').id)")
    assert _run(code) == "PongNoFrameskip-v4 ALE/Breakout-v5"


@pytest.mark.slow  # heavy compile: CI's slow stage keeps the default run under 2 min
def test_import_coaxlike_without_ale_py():
    code = ("import sys; sys.modules['ale_py'] = None\n"
            "import gymnasium, coaxlike\n"
            "print('PongNoFrameskip-v4' in gymnasium.registry)")
    assert _run(code) == "False"
