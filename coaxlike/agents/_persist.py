"""Saving a DQN agent to one fingerprinted file, and building one back from it.

The agent implements the serialization protocol of :mod:`coaxlike.serialization`
(``_serial_static``, ``_serial_tree``, ``_serial_restore``) through the functions here. The
tree holds the learner's own serial tree, the policy's hyperparameter and key, the counters
(with ``explore_until_reward`` also the exploration schedule's origin),
the collection loop (last observations, running returns) and the last ``n + 1`` steps given to
the tracer (replayed into a fresh tracer on loading, which rebuilds its windows exactly);
with ``include_buffer`` also the replay storage, its position, size, sampler state and, for
prioritized replay, the priorities.
"""
import collections

import jax
import numpy as np

from .._checks import check_bool
from ..experience_replay import PrioritizedReplayBuffer
from ..serialization import load_object, save_object
from ..serialization._layout import resolve_path
from ..serialization._reading import read_description
from . import _build, _exploration

__all__ = []  # private module

_SUFFIX = ".cxl"
_TYPE = "coaxlike.agents.DQN"  # the fingerprinted type of a saved agent (see _Saving)


# --- the numpy Generator's state as a fixed-shape array ----------------------------------------

def _rng_state(rng):
    s = rng.bit_generator.state
    if s["bit_generator"] != "PCG64":
        raise TypeError(f"cannot save a {s['bit_generator']} generator (PCG64 expected)")
    mask = (1 << 64) - 1
    state, inc = s["state"]["state"], s["state"]["inc"]
    return np.array([state >> 64, state & mask, inc >> 64, inc & mask, s["has_uint32"],
                     s["uinteger"]], np.uint64)


def _set_rng_state(rng, array):
    a = [int(x) for x in np.asarray(array, np.uint64)]
    rng.bit_generator.state = {"bit_generator": "PCG64",
                               "state": {"state": (a[0] << 64) | a[1], "inc": (a[2] << 64) | a[3]},
                               "has_uint32": a[4], "uinteger": a[5]}


# --- the pieces ------------------------------------------------------------------------------

def _tracer_steps(agent):
    """The last n + 1 tracer inputs as fixed-shape arrays ``(n + 1, n_envs, ...)`` + count."""
    c = agent._config
    size, k = c["n_step"] + 1, c["n_envs"]
    obs = _build.example_obs(agent.q.observation_space, k)
    recent = list(agent._loop.recent)
    S = jax.tree_util.tree_map(lambda x: np.zeros((size, *x.shape), x.dtype), obs)
    A = np.zeros((size, k), np.int64)
    R, logP = np.zeros((size, k)), np.zeros((size, k))
    done, trunc = np.zeros((size, k), bool), np.zeros((size, k), bool)
    for i, (s, a, r, d, lp, t) in enumerate(recent):
        jax.tree_util.tree_map(lambda dst, src: dst.__setitem__(i, src), S, s)
        A[i], R[i], done[i], logP[i], trunc[i] = a, r, d, lp, t
    return {"count": np.int64(len(recent)), "S": S, "A": A, "R": R, "done": done,
            "logP": logP, "truncated": trunc}


def _replay_tracer(agent, steps):
    """Feed the saved steps into a fresh tracer (discarding what it emits: those transitions
    are already in the buffer) and into the loop's record of recent steps."""
    agent.tracer.reset()
    agent._loop.recent.clear()
    for i in range(int(steps["count"])):
        S = jax.tree_util.tree_map(lambda x: np.array(x[i]), steps["S"])
        step = (S, steps["A"][i], steps["R"][i], steps["done"][i], steps["logP"][i],
                steps["truncated"][i])
        agent.tracer.add(*step[:5], truncated=step[5])
        while agent.tracer:
            agent.tracer.pop()
        agent._loop.recent.append(step)


def _replay_tree(buffer):
    # a prioritized buffer saves itself (rows, counters, base priorities, the priority of new
    # transitions, alpha/beta/epsilon); the agent adds the sampler's generator for exactness
    if isinstance(buffer, PrioritizedReplayBuffer):
        tree = dict(buffer._serial_tree())
    else:
        rows, counters = buffer._storage.snapshot()
        tree = {"rows": rows, "counters": counters}
    tree["rng"] = _rng_state(buffer._rng)
    return tree


def _restore_replay(buffer, tree):
    tree = dict(tree)
    rng = tree.pop("rng")
    if isinstance(buffer, PrioritizedReplayBuffer):
        buffer._serial_restore(tree)
    else:
        buffer._storage.restore(tree["rows"], tree["counters"])
    _set_rng_state(buffer._rng, rng)


# --- the protocol ----------------------------------------------------------------------------

def serial_static(agent, include_buffer):
    return {"config": agent._config, "learner": agent.learner._serial_static(),
            "policy": _exploration.describe(agent.policy, agent._exploration_tag),
            "include_buffer": bool(include_buffer)}


def serial_tree(agent, include_buffer):
    loop = agent._loop
    k = agent._config["n_envs"]
    started = loop.obs is not None
    obs = loop.obs if started else _build.example_obs(agent.q.observation_space, k)
    skeleton = _build.example_obs(agent.q.observation_space, k)
    obs = jax.tree_util.tree_map(lambda x, like: np.asarray(x, like.dtype), obs, skeleton)
    tree = {"learner": agent.learner._serial_tree(),
            "policy": {"hyperparameter": agent.policy._hp, "key": agent.policy._key},
            "counters": np.array([agent.num_timesteps, agent.num_updates, loop.episodes],
                                 np.int64),
            "loop": {"started": np.bool_(started), "obs": obs, "returns": loop.returns.copy(),
                     "lengths": loop.lengths.copy(), "resetting": loop.resetting.copy()},
            "tracer": _tracer_steps(agent)}
    if agent._config.get("explore_until_reward"):  # the schedule's origin: -1 while waiting
        start = agent._exploration_start
        tree["exploration_start"] = np.int64(-1 if start is None else start)
    if include_buffer:
        tree["replay"] = _replay_tree(agent.buffer)
    return tree


def serial_restore(agent, tree):
    agent.learner._serial_restore(tree["learner"])
    pi = agent.policy
    pi._set_hp(float(tree["policy"]["hyperparameter"]))
    pi._key = tree["policy"]["key"]
    agent.num_timesteps, agent.num_updates, episodes = (int(x) for x in tree["counters"])
    agent._updates_device = jax.numpy.int32(agent.num_updates)
    loop = agent._loop
    saved = tree["loop"]
    loop.obs = saved["obs"] if bool(saved["started"]) else None
    loop.returns, loop.lengths = np.array(saved["returns"]), np.array(saved["lengths"])
    loop.resetting, loop.episodes = np.array(saved["resetting"]), episodes
    loop.last_returns = collections.deque(maxlen=100)
    if "exploration_start" in tree:
        start = int(tree["exploration_start"])
        agent._exploration_start = None if start < 0 else start
    _replay_tracer(agent, tree["tracer"])
    if "replay" in tree:
        _restore_replay(agent.buffer, tree["replay"])


class _Saving:
    """The agent seen through the protocol, with the ``include_buffer`` choice."""

    def __init__(self, agent, include_buffer):
        self.agent, self.include_buffer = agent, include_buffer

    def _serial_static(self):
        return serial_static(self.agent, self.include_buffer)

    def _serial_tree(self):
        return serial_tree(self.agent, self.include_buffer)

    def _serial_restore(self, tree):
        serial_restore(self.agent, tree)


_Saving.__module__, _, _Saving.__name__ = _TYPE.rpartition(".")
_Saving.__qualname__ = _Saving.__name__


def save(agent, path, include_buffer):
    check_bool(include_buffer, "include_buffer")
    return save_object(path, _Saving(agent, include_buffer), suffix=_SUFFIX)


# what load() reads from a file's settings: a DQN file of an older layout lacks some of them
_CONFIG_KEYS = ("hidden", "buffer_size", "learning_starts", "batch_size", "gamma",
                "train_freq", "gradient_steps", "target_update_interval", "tau",
                "max_grad_norm", "adam_eps", "n_step", "double", "prioritized", "seed",
                "n_envs", "env_id", "func", "learning_rate")


def _saved_static(path):
    """The static settings a file was saved with, read from its description (the layout of
    doc/serialization.rst) to know how to build the agent; ``load_object`` then verifies
    the whole file against the agent built. A file that is no DQN agent of this coaxlike's
    layout is refused with what it is."""
    path = resolve_path(path, _SUFFIX)
    static = read_description(path).get("static")
    kind = static.get("type") if isinstance(static, dict) else None
    if kind != _TYPE:
        holds = (f"a {kind}" if isinstance(kind, str) else
                 "a pytree saved with coaxlike.serialization.save (no object type)")
        raise ValueError(f"{path!r} is not a saved DQN agent: it holds {holds}, expected a "
                         f"{_TYPE} saved with DQN.save")
    config, policy = static.get("config"), static.get("policy")
    missing = [name for name in ("config", "include_buffer", "learner", "policy")
               if name not in static]
    missing += [f"config[{name!r}]" for name in _CONFIG_KEYS
                if isinstance(config, dict) and name not in config]
    missing += [f"policy[{name!r}]" for name in ("class", "exploration")
                if isinstance(policy, dict) and name not in policy]
    if missing or not isinstance(config, dict) or not isinstance(policy, dict):
        raise ValueError(
            f"{path!r} is a DQN agent saved in another layout than this coaxlike reads (an "
            f"older version's, most likely): its settings lack "
            f"{', '.join(missing) or 'a readable config and policy'}; load it with the "
            "coaxlike version that saved it, or train and save it again")
    return static


def load(cls, path, env, *, func, learning_rate, exploration, policy):
    static = _saved_static(path)
    config = static["config"]
    include_buffer = bool(static["include_buffer"])
    saved_policy = {"class": static["policy"]["class"],
                    "exploration": static["policy"]["exploration"]}
    kwargs = {}
    for name, given in (("func", func), ("learning_rate", learning_rate)):
        saved = config.get(name)
        if saved == "custom":
            if given is None:
                raise ValueError(f"{name} is required: the agent was saved with a custom "
                                 f"{name}, which a file cannot hold; pass the same {name}=")
            kwargs[name] = given
        elif given is not None:
            raise ValueError(f"{name} must be None: the agent was saved with "
                             f"{name}={saved!r}, got {given!r}")
        elif name == "learning_rate" and saved != "default":
            kwargs[name] = saved
    kwargs["policy"], kwargs["exploration"] = _exploration.for_loading(
        saved_policy, str(path), policy, exploration)
    if env is None:
        if config.get("env_id") is None:
            raise ValueError("env is required: the agent was saved without an env id")
        env = config["env_id"]
    names = ("hidden", "buffer_size", "learning_starts", "batch_size", "gamma", "train_freq",
             "gradient_steps", "target_update_interval", "tau", "max_grad_norm", "adam_eps",
             "n_step", "double", "prioritized", "seed")
    for name in names:
        kwargs[name] = config[name]
    # files saved before explore_until_reward existed: their schedules count from step 0
    kwargs["explore_until_reward"] = config.get("explore_until_reward", False)
    for name in ("distributional", "value_range", "num_bins", "num_quantiles"):
        if name in config:  # a distributional agent's settings (absent for a plain one)
            kwargs[name] = config[name]
    kwargs["hidden"] = tuple(kwargs["hidden"])
    n_envs = config["n_envs"] if isinstance(env, str) else None
    agent = cls(env, n_envs=n_envs, **kwargs)
    load_object(path, _Saving(agent, include_buffer), suffix=_SUFFIX)
    return agent
