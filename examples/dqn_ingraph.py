"""A whole DQN training run on CartPole-v1 compiled into one ``jax.jit`` call, over seeds.

What it shows, top to bottom:

1. a :class:`coaxlike.agents.DQN` built once on the host for its *pure* functions (the
   baselax-style functional API; built with the seed, its parameters are the seed's
   initial ones, and its optimizer state and keys, never needed, are never made):
   ``agent.init_params``, ``agent.init_optimizer``, ``agent.predict_func`` (epsilon from
   its optax schedule, evaluated in-graph from the policy state's step counter; one
   forward pass and one random draw per call) and ``agent.train_func`` (a ``lax.scan`` of
   the learner's updates, each followed by the target-network sync that falls on it;
   unguarded, as the agent's own rounds), used unchanged inside compiled code;
2. per seed, the optimizer state (with several seeds also the parameters) built
   in-graph;
3. ``num_envs`` pure-JAX CartPoles per seed (``examples/cartpole_jax.py``), auto-reset
   in-graph, feeding one :class:`~coaxlike.experience_replay.PytreeReplayBuffer` through an
   in-graph n-step window (only the fields the learner reads are stored);
4. ``lax.scan`` over vector steps (``updates_per_step`` gradient updates each, their batches
   drawn in one gather),
   inside a ``lax.while_loop`` that evaluates greedily (``predict_func(..., key=None,
   evaluation=True)``, 10 episodes in parallel) every ``eval_every`` env steps and stops
   when the 10-episode mean return reaches 475;
5. ``jax.vmap`` over seeds: every seed trains independently in the same call.

Most of the run's time is tracing and compiling it. XLA:CPU compiles each *distinct* kernel
of the program on its own (identical kernels are compiled once): see the in-graph section
of the performance page for where they come from. The run is compiled with XLA's classic
CPU fusion emitters (:func:`compiler_options`: about two thirds of the compile time of the
default emitters, same results bit for bit). Building the agent compiles nothing heavy (its
parameters, optimizer state and keys are made on first read); a single seed's run takes
the agent's parameters as an argument, made (the agent's initialisation compiled, under
the run's PRNG implementation) on a worker thread while the run is traced and compiled.
The program is kept small to trace and optimise: the keys of a whole chunk of vector steps
come from one split (every evaluation's from one split per run), the resets of a batch of
CartPoles are one draw, ``predict_func`` runs one forward pass and one draw, and only the
online network is kept across evaluations. The hyperparameters (a learning rate of 5e-3,
5-step returns, a target sync every 100 updates, eight updates per vector step) were
screened on seeds 0-19 (median 40k env steps to solve, against 80k for 3e-3, 3-step
returns and 200 updates) and checked on seeds 20-39 (35k against 77.5k, the slowest 55k
against 125k).

Run ``python examples/dqn_ingraph.py`` (5 seeds in one call; ``--separate`` compiles and
runs each seed on its own to time each; ``--help`` for the hyperparameters). The wall
seconds printed include compilation.
"""
import argparse
import concurrent.futures
import dataclasses
import gc
import time
from typing import Any, NamedTuple

import gymnasium as gym
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax

from coaxlike.agents import DQN, DQNOptState, DQNParams, PolicyState
from coaxlike.experience_replay import PytreeReplayBuffer
from coaxlike.reward_tracing import TransitionBatch

import cartpole_jax as cartpole

SOLVED = 475.0
SEEDS = "seeds"  # the name of the vmapped seed axis


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyperparameters (static: a new value compiles a new run).

    Env steps are counted per seed: one vector step is ``num_envs`` env steps.
    """

    num_envs: int = 50  # parallel CartPoles per seed, one buffer
    n_step: int = 5
    gamma: float = 0.99
    learning_rate: float = 5e-3
    batch_size: int = 64
    buffer_capacity: int = 50_000
    warmup_steps: int = 1_000  # env steps before the first update
    updates_per_step: int = 8  # gradient updates per vector step (6.25 env steps each)
    target_period: int = 100  # gradient updates between hard target syncs
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    epsilon_decay_steps: int = 20_000  # env steps
    eval_every: int = 5_000  # env steps
    eval_episodes: int = 10
    max_env_steps: int = 200_000
    hidden: tuple = (64, 64)
    double_q: bool = True
    prng_impl: str = "unsafe_rbg"  # PRNG of the seed keys: see the note in run()

    def __post_init__(self):
        if self.eval_every % self.num_envs:
            raise ValueError(f"eval_every must be a multiple of num_envs={self.num_envs}, got "
                             f"{self.eval_every}")
        if self.n_step < 1:
            raise ValueError(f"n_step must be >= 1, got {self.n_step}")


# --- the agent, built once on the host for its pure functions -------------------------------

def make_agent(config, seed=0):
    """A :class:`~coaxlike.agents.DQN` whose pure functions train every seed.

    Its buffer and env are never used, and its parameters only as a single seed's starting
    point (see :func:`run`); its configuration is: one round is ``num_envs`` env steps with
    ``updates_per_step`` updates, so a target sync every ``target_period`` updates is one
    every ``target_period * num_envs / updates_per_step`` env steps. One CartPole stepped
    ``num_envs`` times per round stands for the ``num_envs`` CartPoles stepped once: the
    same env steps per round, so the same target syncs, for one env to make.
    """
    def func(S, is_training):
        if hk.running_init():  # every layer's initialisation key from one split
            hk.reserve_rng_keys(len(config.hidden) + 1)
        return hk.nets.MLP([*config.hidden, cartpole.N_ACTIONS])(S)

    interval = config.target_period * config.num_envs / config.updates_per_step
    if interval != int(interval):
        raise ValueError("target_period * num_envs / updates_per_step must be an integer, got "
                         f"{interval}")
    env = gym.make("CartPole-v1")
    # the agent's keys of the run's PRNG: its parameters are the seed's initial ones (see
    # init), and its network's initialisation compiles in about half the time with
    # unsafe_rbg keys as with threefry
    with jax.default_prng_impl(config.prng_impl):
        agent = DQN(env, func, learning_rate=config.learning_rate,
                    batch_size=config.batch_size, buffer_size=config.batch_size,
                    gamma=config.gamma, train_freq=config.num_envs,
                    gradient_steps=config.updates_per_step,
                    target_update_interval=int(interval), tau=1.0, max_grad_norm=None,
                    n_step=config.n_step, double=config.double_q,
                    exploration=optax.linear_schedule(config.epsilon_start,
                                                      config.epsilon_end,
                                                      config.epsilon_decay_steps),
                    seed=seed)
    env.close()
    return agent


# --- n-step window: the last n vector steps of every env ------------------------------------

class Window(NamedTuple):
    """Leaves ``(n, N, ...)``: oldest step first. ``S_next`` is the pre-reset observation."""

    S: Any
    A: Any
    logP: Any
    R: Any
    terminated: Any
    done: Any
    S_next: Any


def push(window, new):
    return jax.tree_util.tree_map(
        lambda w, x: jnp.concatenate([w[1:], x[None]], axis=0), window, new)


def oldest_transitions(window, gamma):
    r"""The n-step transitions starting at the window's oldest step, one per env.

    With :math:`K` the steps up to and including the first episode end (at most n):
    :math:`R^{(n)} = \sum_{k<K} \gamma^k r_k`, :math:`I^{(n)} = 0` if the episode terminated
    within them, :math:`\gamma^K` otherwise (truncation bootstraps), ``S_next`` the
    observation after step K.
    """
    n = window.R.shape[0]
    ended_before = jnp.cumsum(window.done, axis=0) - window.done  # (n, N): ends before k
    alive = (ended_before == 0).astype(jnp.float32)
    discounts = (gamma ** jnp.arange(n, dtype=jnp.float32))[:, None]
    Rn = jnp.sum(alive * discounts * window.R, axis=0)
    K = jnp.sum(alive, axis=0).astype(jnp.int32)  # in [1, n]
    terminated = jnp.any((alive > 0) & window.terminated, axis=0)
    In = jnp.where(terminated, 0.0, gamma ** K.astype(jnp.float32))
    S_next = jnp.take_along_axis(window.S_next, (K - 1)[None, :, None], axis=0)[0]
    # jit-friendly: with JAX inputs from_one_step uses jax.numpy. A K-step transition is
    # stored as a one-step "macro" transition (R_seq = Rn, gamma_seq = In): exact for
    # targets without a target policy, which is what is trained here.
    return TransitionBatch.from_one_step(S=window.S[0], A=window.A[0], Rn=Rn, In=In,
                                         S_next=S_next, logP=window.logP[0])


def stored(tb):
    """The fields the learner reads, and the log-propensities: no target policy, so neither
    the window fields nor ``A_next`` / ``logP_next`` (a copy of ``A`` and NaN, from
    ``from_one_step``)."""
    return tb._replace(A_seq=None, logP_seq=None, R_seq=None, gamma_seq=None,
                       valid_seq=None, S_seq=None, mask_seq=None, A_next=None,
                       logP_next=None)


# --- one seed's training loop ---------------------------------------------------------------

class Carry(NamedTuple):
    params: Any  # DQNParams: online and target networks
    opt_state: Any  # DQNOptState: optimizer state and the update count
    policy_state: Any  # PolicyState: env steps taken (the epsilon schedule's position)
    buffer_state: Any
    env_states: Any
    obs: Any  # (N, 4), the observations to act on
    window: Window
    key: Any
    vector_steps: Any  # int32, counted since the start (priming included)


# vmap axes of a Carry over seeds: the step counters are shared (unbatched), so the
# lax.cond calls on them stay branches (use as in_axes/out_axes with init and train_chunk)
CARRY_AXES = Carry(0, DQNOptState(0, None), PolicyState(None), 0, 0, 0, Window(*[0] * 7), 0, None)


class Functions(NamedTuple):
    """What :func:`make_functions` returns: the agent and pure functions of one seed."""

    agent: Any  # the DQN whose pure functions are used
    init: Any  # (key, params=None) -> Carry
    train_chunk: Any  # Carry -> (Carry, losses): eval_every env steps
    evaluate: Any  # (params, key) -> greedy mean return
    # (key, together=True, params=None) -> results; jax.vmap(train, axis_name=SEEDS)(keys)
    train: Any


def make_functions(config, seed=0):
    """Build the agent once (with ``seed``: see :func:`run`) and the pure functions of one
    seed's run around it."""
    agent = make_agent(config, seed)
    buffer = PytreeReplayBuffer(config.buffer_capacity)
    N = config.num_envs
    warmup_vector_steps = -(-config.warmup_steps // N)

    def act_and_step(carry, k_act, k_reset):
        """One vector step: act, step, auto-reset; returns the new carry."""
        out, policy_state = agent.predict_func(carry.params, carry.policy_state, carry.obs,
                                               k_act)
        env_states, S_next, R, terminated, truncated = jax.vmap(cartpole.step)(
            carry.env_states, out.actions)
        done = terminated | truncated
        env_states, obs = cartpole.reset_where(done, k_reset, env_states, S_next)
        new = Window(carry.obs, out.actions, out.logp, R, terminated, done, S_next)
        return carry._replace(policy_state=policy_state, env_states=env_states, obs=obs,
                              window=push(carry.window, new),
                              vector_steps=carry.vector_steps + 1)

    def init(key, params=None):
        """A seed's first carry from its key. The first half of the key's split initialises
        the network, as in ``DQN(..., seed=seed)``: ``params``, that agent's
        :attr:`~coaxlike.agents.DQN.params`, gives the same carry without initialising the
        network again."""
        k_params, k_run = jax.random.split(key)
        k_env, k_carry = jax.random.split(k_run)
        if params is None:
            params = agent.init_params(k_params)
        env_states, obs = cartpole.reset_batch(k_env, N)
        zeros = lambda dtype, *shape: jnp.zeros((config.n_step, N, *shape), dtype)
        window = Window(zeros(jnp.float32, 4), zeros(jnp.int32), zeros(jnp.float32),
                        zeros(jnp.float32), zeros(bool), zeros(bool), zeros(jnp.float32, 4))
        buffer_state = buffer.init(stored(oldest_transitions(window, config.gamma)))
        return Carry(params, agent.init_optimizer(params), agent.init_policy(), buffer_state,
                     env_states, obs, window, k_carry, jnp.zeros((), jnp.int32))

    def learn(params, opt_state, buffer_state, k_sample, k_train):
        """``updates_per_step`` updates: their batches drawn in one gather, then one
        ``agent.train_func`` call (a ``lax.scan`` of the learner's update)."""
        G, B = config.updates_per_step, config.batch_size
        batches = jax.tree_util.tree_map(lambda x: x.reshape(G, B, *x.shape[1:]),
                                         buffer.sample(buffer_state, k_sample, G * B))
        # unguarded: the batches come from this program's own buffer, and a diverged run
        # shows in its evaluations; the accepted updates are the guarded ones bit for bit
        params, opt_state, _, metrics, _ = agent.train_func(params, opt_state, batches,
                                                            k_train, guarded=False)
        return params, opt_state, jnp.mean(metrics["loss"])

    def iteration(carry, keys):
        k_act, k_reset, k_sample, k_train = keys
        carry = act_and_step(carry, k_act, k_reset)
        # the window is full (its oldest step has n steps after it) from the n-th step on
        buffer_state = jax.lax.cond(
            carry.vector_steps >= config.n_step,
            lambda b, w: buffer.add(b, stored(oldest_transitions(w, config.gamma))),
            lambda b, w: b, carry.buffer_state, carry.window)
        params, opt_state, loss = jax.lax.cond(
            carry.vector_steps >= warmup_vector_steps, learn,
            lambda p, o, b, k, k2: (p, o, jnp.zeros((), jnp.float32)),
            carry.params, carry.opt_state, buffer_state, k_sample, k_train)
        return carry._replace(params=params, opt_state=opt_state,
                              buffer_state=buffer_state), loss

    def train_chunk(carry):
        """``eval_every`` env steps: a scan over ``eval_every // num_envs`` vector steps.

        Every key of the chunk comes from one split (four per vector step: acting, resets,
        sampling, training), so the scan body splits no keys of its own."""
        steps = config.eval_every // N
        keys = jax.random.split(carry.key, 1 + 4 * steps)
        return jax.lax.scan(iteration, carry._replace(key=keys[0]),
                            keys[1:].reshape(steps, 4))

    def evaluate(params, key):
        """Mean greedy return over ``eval_episodes`` episodes run side by side; ``key``
        draws their initial states.

        ``predict_func(..., key=None, evaluation=True)``: each step takes the first greedy
        action, without a random draw (a CartPole Q-function has no exact ties; breaking
        them at random cost about 0.2 CPU-s of compilation here and 500 keys per
        evaluation)."""
        E = config.eval_episodes
        states, obs = cartpole.reset_batch(key, E)
        policy_state = agent.init_policy()

        def cond(c):
            return ~jnp.all(c[3])

        def body(c):
            states, obs, returns, done = c
            out, _ = agent.predict_func(params, policy_state, obs, None, evaluation=True)
            states, obs, R, terminated, truncated = jax.vmap(cartpole.step)(states,
                                                                            out.actions)
            returns = returns + jnp.where(done, 0.0, R)
            return states, obs, returns, done | terminated | truncated

        c = (states, obs, jnp.zeros(E, jnp.float32), jnp.zeros(E, bool))
        return jnp.mean(jax.lax.while_loop(cond, body, c)[2])

    max_evals = config.max_env_steps // config.eval_every

    def online(params):
        return params.q, params.function_state

    def train(key, together=True, params=None):
        """One seed's run, to be called as ``jax.vmap(train, axis_name=SEEDS)(keys)``.

        The seeds train side by side and stop together, when every seed has reached a greedy
        mean return of 475 (or after ``max_env_steps``): the stopping test is a ``psum`` over
        the seeds, so the loop counters stay unbatched and the ``lax.cond`` calls in the scan
        stay real branches (under ``vmap`` a per-seed test would turn them into selects
        that run both sides). Each seed returns the online network it solved with (as
        :class:`~coaxlike.agents.DQNParams`, the target a copy of it: only the online network
        is kept across evaluations, one select per leaf fewer to compile).
        ``together=False``: a seed alone, called without ``vmap`` (its own stopping test).
        ``params``: the seed's initial parameters if already made (see :func:`init`).
        """
        carry = init(key, params)
        k_eval, k_carry = jax.random.split(carry.key)
        carry = carry._replace(key=k_carry)
        # every evaluation's keys from one split: no random-number call of its own
        eval_keys = jax.random.split(k_eval, max_evals)
        scores = jnp.full(max_evals, jnp.nan, jnp.float32)

        def cond(c):
            _, _, _, i, solved_at = c
            unsolved = (solved_at < 0).astype(jnp.int32)
            if together:
                unsolved = jax.lax.psum(unsolved, SEEDS)
            return (unsolved > 0) & (i < max_evals)

        def body(c):
            carry, kept, scores, i, solved_at = c
            carry, _ = train_chunk(carry)
            score = evaluate(carry.params, eval_keys[i])
            unsolved = solved_at < 0
            kept = jax.tree_util.tree_map(lambda new, old: jnp.where(unsolved, new, old),
                                          online(carry.params), kept)
            scores = scores.at[i].set(jnp.where(unsolved, score, jnp.nan))
            solved_at = jnp.where(unsolved & (score >= SOLVED),
                                  (i + 1) * config.eval_every, solved_at)
            return carry, kept, scores, i + 1, solved_at

        carry, kept, scores, evals, solved_at = jax.lax.while_loop(
            cond, body, (carry, online(carry.params), scores, jnp.zeros((), jnp.int32),
                         jnp.full((), -1, jnp.int32)))
        return {"solved": solved_at >= 0,
                "env_steps": jnp.where(solved_at >= 0, solved_at, evals * config.eval_every),
                "eval_returns": scores, "updates": carry.opt_state.updates,
                "params": DQNParams(*kept, *kept)}

    return Functions(agent, init, train_chunk, evaluate, train)


# --- driver ---------------------------------------------------------------------------------

def seed_keys(config, seeds):
    """One PRNG key per seed, of ``config.prng_impl``."""
    return jax.vmap(lambda s: jax.random.key(s, impl=config.prng_impl))(
        jnp.asarray(seeds, jnp.uint32))


def compiler_options():
    """XLA options for compiling the run: on CPU, XLA's classic fusion emitters.

    Measured on a 2-core machine, compiling one seed's run with the classic emitters
    (``xla_cpu_use_fusion_emitters=False``) takes about two thirds of the CPU time of the
    default MLIR-based emitters, for the same results bit for bit and the same speed; the
    option is passed to this one compilation, not set for the process.
    """
    return {"xla_cpu_use_fusion_emitters": False} if jax.default_backend() == "cpu" else {}


def run(config, seeds):
    """Build, compile and run ``train`` vmapped over ``seeds``, timing each phase.

    A single seed runs without ``vmap`` (``train(key, together=False)``, about a third less
    tracing), and starts from the parameters of the agent, built with that seed: the
    network's initialisation is compiled once (by the agent), not again in the run. Several
    seeds initialise theirs in the run, from the same keys (the same values, up to the
    rounding of a differently compiled initialisation).

    The Python objects alive before the call are frozen out of the cyclic garbage collector
    during it (``gc.freeze``): tracing allocates a few hundred thousand objects, and the
    collector's full passes over every live object (JAX's own included) took about 0.1 s
    of it.

    Returns:
        dict: ``seconds`` (wall, from building the agent to the results on the host, so
        compilation included) and its parts ``setup_seconds``, ``compile_seconds``,
        ``run_seconds``; per seed (numpy) ``solved``, ``env_steps`` (to solve, else the
        budget), ``eval_returns`` and ``updates``; the vmapped ``params``
        (:class:`~coaxlike.agents.DQNParams`); and the ``functions`` built.
    """
    gc.freeze()
    try:
        return _run(config, seeds)
    finally:
        gc.unfreeze()


def _run(config, seeds):
    t0 = time.perf_counter()
    functions = make_functions(config, seed=seeds[0])
    keys = seed_keys(config, seeds)
    t1 = time.perf_counter()
    if len(keys) == 1:  # without vmap, which costs a third of the tracing
        def program(keys, params):
            out = functions.train(keys[0], together=False, params=params)
            return jax.tree_util.tree_map(lambda x: x[None], out)

        # the agent makes its parameters on first read (compiling its initialisation): on a
        # worker thread, while this one traces and compiles the run from their shapes
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            made = pool.submit(lambda: functions.agent.params)
            shapes = jax.eval_shape(functions.agent.init_params, keys[0])
            train = jax.jit(program).lower(keys, shapes).compile(compiler_options())
            params = made.result()
    else:
        def program(keys, params):
            return jax.vmap(functions.train, axis_name=SEEDS)(keys)

        params = None
        train = jax.jit(program).lower(keys, params).compile(compiler_options())
    t2 = time.perf_counter()
    out = jax.block_until_ready(train(keys, params))
    t3 = time.perf_counter()
    result = {k: np.asarray(v) for k, v in out.items() if k != "params"}
    return {"seconds": t3 - t0, "setup_seconds": t1 - t0, "compile_seconds": t2 - t1,
            "run_seconds": t3 - t2, "params": out["params"],
            "functions": functions, **result}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--separate", action="store_true",
                        help="compile and run each seed on its own (per-seed wall time)")
    for field in dataclasses.fields(Config):
        kind = type(field.default)
        if kind in (int, float, bool, str):
            parser.add_argument(f"--{field.name.replace('_', '-')}", default=field.default,
                                type=(lambda s: s.lower() in ("1", "true", "yes"))
                                if kind is bool else kind)
    args = parser.parse_args()
    config = Config(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Config)
                       if hasattr(args, f.name)})
    print(config)
    groups = [[s] for s in args.seeds] if args.separate else [args.seeds]
    for seeds in groups:
        jax.clear_caches()  # each group pays its own compilation
        out = run(config, seeds)
        for i, seed in enumerate(seeds):
            solved = "solved" if out["solved"][i] else "NOT solved"
            curve = " ".join(f"{r:.0f}" for r in out["eval_returns"][i] if np.isfinite(r))
            print(f"seed {seed}: {solved} after {out['env_steps'][i]} env steps "
                  f"(greedy returns every {config.eval_every}: {curve})")
        print(f"  {len(seeds)} seed(s) in {out['seconds']:.2f} s wall, compilation included "
              f"(setup {out['setup_seconds']:.2f} s, compile {out['compile_seconds']:.2f} s, "
              f"run {out['run_seconds']:.2f} s)")


if __name__ == "__main__":
    main()
