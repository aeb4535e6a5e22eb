"""Record one episode as an animated GIF (coax's ``generate_gif``), written with Pillow."""
import logging
import numbers
import os
import tempfile

import numpy as np
from gymnasium.vector import VectorEnv

__all__ = ["generate_gif"]

_DEFAULT_MAX_STEPS = 10_000
logger = logging.getLogger(__name__)


def _check_resize(resize_to):
    if resize_to is None:
        return None
    if not (isinstance(resize_to, tuple) and len(resize_to) == 2
            and all(isinstance(x, numbers.Integral) and not isinstance(x, bool) and x > 0
                    for x in resize_to)):
        raise TypeError(f"resize_to must be a pair of positive ints (width, height), got "
                        f"{resize_to!r}")
    return tuple(int(x) for x in resize_to)


def _frame(env, resize_to, Image):
    frame = env.render()
    if not isinstance(frame, np.ndarray) or frame.ndim != 3:
        raise RuntimeError(f"generate_gif needs env.render() to return an (H, W, 3) array, "
                           f"got {type(frame).__name__}")
    image = Image.fromarray(np.asarray(frame, np.uint8))
    return image if resize_to is None else image.resize(resize_to)


def generate_gif(env, filepath, policy=None, resize_to=None, duration=50,
                 max_episode_steps=None):
    """Play one episode and save its frames as an animated GIF.

    The env is reset, then stepped with ``policy(s)`` (random actions without a policy)
    until the episode terminates, is truncated or ``max_episode_steps`` steps are taken. The
    GIF holds the frame after the reset and one after every step: ``steps + 1`` frames
    (Pillow merges consecutive identical frames into one, adding up their durations). A
    :class:`~coaxlike.wrappers.TrainMonitor` as the outermost wrapper is skipped, so the
    recorded episode does not count as training (any wrapper whose class sets
    ``skipped_when_recording = True`` is skipped the same way). The file is written
    atomically.

    Needs Pillow (``pip install 'coaxlike[gif]'``).

    Args:
        env: a gymnasium env made with ``render_mode="rgb_array"`` (not a vector env).
        filepath: where to write the GIF; missing directories are created.
        policy: callable ``s -> a``, e.g. ``pi`` or ``pi.mode``; default: random actions.
        resize_to: optional ``(width, height)`` of the frames (Pillow's order).
        duration: time per frame in milliseconds.
        max_episode_steps: the most steps to record; default ``env.spec.max_episode_steps``
            or 10000.

    Returns:
        The number of steps played.

    Raises:
        TypeError: for a vector env or a bad ``resize_to``.
        RuntimeError: if the env does not render ``rgb_array`` frames.

    Examples:
        >>> import gymnasium as gym, tempfile, os
        >>> from coaxlike.utils import generate_gif
        >>> env = gym.make("FrozenLake-v1", render_mode="rgb_array")  # needs pygame
        >>> path = os.path.join(tempfile.mkdtemp(), "random.gif")
        >>> steps = generate_gif(env, path, max_episode_steps=3, resize_to=(64, 64))
        >>> 1 <= steps <= 3, os.path.exists(path)
        (True, True)
    """
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError("generate_gif needs Pillow: pip install 'coaxlike[gif]'") from e
    if isinstance(env, VectorEnv):
        raise TypeError("generate_gif records one episode of a single env; got a vector env")
    resize_to = _check_resize(resize_to)
    if getattr(env, "render_mode", None) != "rgb_array":
        raise RuntimeError(f"generate_gif needs an env made with render_mode='rgb_array', got "
                           f"render_mode={getattr(env, 'render_mode', None)!r}")
    if getattr(type(env), "skipped_when_recording", False):  # e.g. a TrainMonitor
        env = env.env
    if max_episode_steps is None:
        spec = getattr(env, "spec", None)
        max_episode_steps = getattr(spec, "max_episode_steps", None) or _DEFAULT_MAX_STEPS

    s, _ = env.reset()
    frames = [_frame(env, resize_to, Image)]
    steps = 0
    while steps < max_episode_steps:
        a = env.action_space.sample() if policy is None else policy(s)
        s, _, terminated, truncated, _ = env.step(a)
        steps += 1
        frames.append(_frame(env, resize_to, Image))
        if terminated or truncated:
            break

    filepath = os.fspath(filepath)
    directory = os.path.dirname(filepath) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".gif-", suffix=".gif")
    try:
        with os.fdopen(fd, "wb") as f:
            frames[0].save(f, format="GIF", save_all=True, append_images=frames[1:],
                           duration=duration, loop=0)
        os.chmod(tmp, 0o644)  # mkstemp's 0o600 would hide the GIF from other users
        os.replace(tmp, filepath)
    except BaseException:
        os.unlink(tmp)
        raise
    logger.info("recorded an episode of %d steps to %s", steps, filepath)
    return steps
