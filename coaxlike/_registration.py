"""Gymnasium ids that ``import coax`` registers, registered on ``import coaxlike`` as well.

``FrozenLakeNonSlippery-v0``: gymnasium's FrozenLake 4x4 map without slipping, episodes cut
at 20 steps, solved at an average return above 0.99 (coax's definition). An id that is
already registered (e.g. by coax itself, or by the user) is left as it is.

The Atari ids (``PongNoFrameskip-v4``, ``ALE/Pong-v5``, ...): gymnasium >= 1.0 no longer finds
the ALE environments by itself; ale-py registers them when it is imported. ``import coaxlike``
does that when ale-py is installed (the optional extra ``atari``), as ``import coax`` did; it
costs 13-40 ms on top of the seconds of importing JAX and haiku, and nothing when ale-py is
absent (one ``find_spec`` lookup).
"""
import importlib.util

import gymnasium

__all__ = []


def _register_once(env_id, **spec):
    if env_id not in gymnasium.envs.registry:
        gymnasium.register(id=env_id, **spec)


_register_once("FrozenLakeNonSlippery-v0", entry_point="gymnasium.envs.toy_text:FrozenLakeEnv",
               kwargs={"map_name": "4x4", "is_slippery": False}, max_episode_steps=20,
               reward_threshold=0.99)


def register_atari_envs() -> bool:
    """Register ale-py's environments with gymnasium if ale-py is installed; return whether."""
    if "PongNoFrameskip-v4" in gymnasium.registry:
        return True
    try:
        if importlib.util.find_spec("ale_py") is None:
            return False
        import ale_py
    except (ImportError, ValueError):  # ValueError: sys.modules["ale_py"] is None
        return False
    gymnasium.register_envs(ale_py)
    return True


register_atari_envs()
