"""Gymnasium ids that ``import coax`` registers, registered on ``import coaxlike`` as well.

``FrozenLakeNonSlippery-v0``: gymnasium's FrozenLake 4x4 map without slipping, episodes cut
at 20 steps, solved at an average return above 0.99 (coax's definition). An id that is
already registered (e.g. by coax itself, or by the user) is left as it is.
"""
import gymnasium as gym

__all__ = []


def _register_once(env_id, **spec):
    if env_id not in gym.envs.registry:
        gym.register(id=env_id, **spec)


_register_once("FrozenLakeNonSlippery-v0", entry_point="gymnasium.envs.toy_text:FrozenLakeEnv",
               kwargs={"map_name": "4x4", "is_slippery": False}, max_episode_steps=20,
               reward_threshold=0.99)
