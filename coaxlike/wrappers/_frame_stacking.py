"""FrameStacking: the last k observations as a tuple of frames, each stored once by the buffers."""
import collections

import gymnasium
import jax
import numpy as np

from ..experience_replay._checks import check_positive_int

__all__ = ["FrameStacking"]


class FrameStacking(gymnasium.Wrapper):
    r"""Observations that are the last ``num_frames`` observations, as a tuple (coax's format).

    ``s_t = (o_{t-k+1}, ..., o_t)`` for ``k = num_frames``; after a reset every entry is the
    reset observation. The frames are *not* stacked into one array: the observation space is
    ``Tuple((space,) * k)`` and each observation a tuple of ``k`` arrays, which the replay
    buffers store one frame at a time (see
    :class:`~coaxlike.experience_replay.SimpleReplayBuffer`): consecutive observations share
    ``k - 1`` frames, so a transition costs about one frame in the buffer instead of
    ``2k`` or more. Stack them inside the network, e.g. ``jnp.stack(S, axis=-1)`` for
    ``(B, H, W, k)`` channels-last input (this is the DQN paper's stacking; the format is
    coax's, so coax's Atari examples run unchanged).

    Each new observation is copied once when it arrives, because some wrappers (gymnasium's
    ``AtariPreprocessing`` without resizing, for one) return the same array every step and
    write into it.

    Args:
        env: a gymnasium environment (e.g. wrapped in ``AtariPreprocessing``).
        num_frames: ``k``, an int >= 1.

    Raises:
        TypeError: if ``num_frames`` is not an int.
        ValueError: if ``num_frames`` < 1.

    Examples:
        >>> import gymnasium, numpy as np
        >>> from coaxlike.wrappers import FrameStacking
        >>> env = FrameStacking(gymnasium.make("CartPole-v1"), num_frames=3)
        >>> s, info = env.reset(seed=0)
        >>> env.observation_space.shape is None, len(s), bool(np.all(s[0] == s[2]))
        (True, 3, True)
        >>> s_next, r, terminated, truncated, info = env.step(0)
        >>> bool(np.all(s_next[1] == s[2])), bool(np.all(s_next[2] == s[2]))
        (True, False)
    """

    def __init__(self, env: gymnasium.Env, num_frames: int):
        num_frames = check_positive_int("num_frames", num_frames)
        super().__init__(env)
        self.num_frames = num_frames
        self.observation_space = gymnasium.spaces.Tuple((env.observation_space,) * num_frames)
        self._frames = collections.deque(maxlen=num_frames)

    def reset(self, **kwargs):
        """Reset the env; the observation repeats the reset observation ``num_frames`` times."""
        observation, info = self.env.reset(**kwargs)
        frame = _copy(observation)
        self._frames.extend([frame] * self.num_frames)
        return tuple(self._frames), info

    def step(self, action):
        """Step the env; the newest frame enters the tuple last, the oldest leaves."""
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._frames.append(_copy(observation))
        return tuple(self._frames), reward, terminated, truncated, info


def _copy(observation):
    return jax.tree_util.tree_map(np.array, observation)
