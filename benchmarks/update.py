"""One TD-learner update (DQN on CartPole-v1 shapes), each call beside a hand-written floor.

Rows, for ``QLearning`` and ``DoubleQLearning`` with a target network, at batch 32 and 256:

* ``shell``: ``learner.update(tb)`` with a host (numpy) ``TransitionBatch``, against the floor
  called with the same host arrays (``S, A, Rn, In, S_next``);
* ``pure``: ``jax.jit(learner.update_func)(learner_state, tb, key)`` on device arrays,
  against the floor on device arrays; and the same with ``donate_argnums=0`` (the way the
  docs recommend to call it per step; the floor does not donate);
* ``scan``: 64 updates in one ``jax.jit`` over ``lax.scan`` (what an in-graph training loop
  does; µs per update), against the floor in the same scan.

Last row, ``round``: one training round of ``coaxlike.agents.DQN`` on the rl-zoo CartPole
recipe (MLP 4-256-256-2, 128 updates of batch 64, Adam 2.3e-3 after global-norm clipping at
10, one hard target sync per round): the agent's own compiled round (``agent._train_jit``,
the call :meth:`DQN.learn` makes, its finite check read on the host) against a hand-written
``lax.scan`` of the same 128 updates (haiku, optax, the batches moved once, the target
copied at the end), both given the same host batches; ms per round, and each one's compile
time (process CPU seconds, measured once, not interleaved).

The floor is one ``jax.jit`` function written with haiku and optax alone: the same network
(MLP 4-64-64-2, same parameters), Huber loss (delta 1), ``optax.adam(1e-3)``, the plain or
double Q-learning target from a target network, and nothing else (no metrics, no weights, no
checks). Every call is complete: the loss is read on the host (``float``) before the next.

    python -m benchmarks.update [--sync] [--quick] [--json PATH] [--filter TEXT]
"""
from . import _timing

TITLE = "TD update, CartPole-v1 shapes, MLP 4-64-64-2, adam"
BATCHES = (32, 256)
SCAN_LENGTH = 64
TARGET = 1.2  # issue 5: the update step at most 1.2x the hand-written update
LEARNERS = ("QLearning", "DoubleQLearning")


def make_floor(double_q, learning_rate=1e-3):
    """``jit((params, target_params, opt_state, S, A, Rn, In, S_next) -> (params, opt_state,
    loss))``: one DQN step by hand, and the optimizer."""
    import haiku as hk
    import jax
    import jax.numpy as jnp
    import optax

    from ._floors import cartpole_func

    apply = hk.transform(cartpole_func).apply
    optimizer = optax.adam(learning_rate)

    def loss_fn(params, target_params, S, A, Rn, In, S_next):
        q_next = apply(target_params, None, S_next, False)
        if double_q:
            a_next = jnp.argmax(apply(params, None, S_next, False), axis=-1)
            v_next = jnp.take_along_axis(q_next, a_next[:, None], axis=-1)[:, 0]
        else:
            v_next = jnp.max(q_next, axis=-1)
        G = jax.lax.stop_gradient(Rn + In * v_next)
        q = jnp.take_along_axis(apply(params, None, S, False), A[:, None], axis=-1)[:, 0]
        return jnp.mean(optax.huber_loss(q, G))

    def step(params, target_params, opt_state, S, A, Rn, In, S_next):
        loss, grads = jax.value_and_grad(loss_fn)(params, target_params, S, A, Rn, In, S_next)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(step), step, optimizer


def _batch(rng, size):
    import numpy as np

    from coaxlike.reward_tracing import TransitionBatch
    return TransitionBatch.from_one_step(
        S=rng.normal(size=(size, 4)).astype(np.float32), A=rng.integers(0, 2, size),
        Rn=np.ones(size, np.float32), In=np.where(rng.random(size) < 0.05, 0.0, 0.99),
        S_next=rng.normal(size=(size, 4)).astype(np.float32))


def _scan_pair(learner, floor_step, ls, floor_state, batches, key):
    """Jitted ``SCAN_LENGTH`` updates over stacked batches: (ours, floor) callables."""
    import jax

    def ours(ls, batches, key):
        def body(ls, xs):
            tb, k = xs
            ls, metrics = learner.update_func(ls, tb, k)
            return ls, metrics["loss"]
        return jax.lax.scan(body, ls, (batches, jax.random.split(key, SCAN_LENGTH)))

    def floor(state, batches):
        def body(state, tb):
            params, target, opt = state
            params, opt, loss = floor_step(params, target, opt, tb.S, tb.A, tb.Rn, tb.In,
                                           tb.S_next)
            return (params, target, opt), loss
        return jax.lax.scan(body, state, batches)

    ours_jit, floor_jit = jax.jit(ours), jax.jit(floor)
    return (lambda: float(ours_jit(ls, batches, key)[1][-1]),
            lambda: float(floor_jit(floor_state, batches)[1][-1]))


ROUND_G, ROUND_B, ROUND_HIDDEN = 128, 64, (256, 256)
ROUND_TARGET = 1.1  # issue 15: the agent's round within 10% of the hand-written scan
ROUND_NAME = f"DQN agent round, zoo recipe: {ROUND_G} updates B={ROUND_B} MLP 256x256"


def make_round_floor(hidden, learning_rate, max_grad_norm):
    """``jit((params, opt_state, batches) -> (params, target, opt_state, losses))``: a
    ``lax.scan`` of DQN updates (Huber loss, max over the target network's values) with
    the target network fixed during the round and copied from the online one at its end."""
    import haiku as hk
    import jax
    import jax.numpy as jnp
    import optax

    apply = hk.transform(lambda S: hk.nets.MLP([*hidden, 2])(S)).apply
    optimizer = optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(learning_rate))

    def loss_fn(params, target, S, A, Rn, In, S_next):
        G = jax.lax.stop_gradient(Rn + In * jnp.max(apply(target, None, S_next), axis=-1))
        q = jnp.take_along_axis(apply(params, None, S), A[:, None], axis=-1)[:, 0]
        return jnp.mean(optax.huber_loss(q, G))

    def round_(params, target, opt_state, S, A, Rn, In, S_next):
        def body(carry, xs):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, target, *xs)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state),
                                                   (S, A, Rn, In, S_next))
        return params, params, opt_state, losses

    return jax.jit(round_), optimizer


def round_rows(quick=False):
    """The ``round`` row: the DQN agent's compiled round against the hand-written scan."""
    import time

    import gymnasium as gym
    import jax
    import numpy as np
    import optax

    from coaxlike.agents import DQN, DQNOptState

    G, B = ROUND_G, ROUND_B
    agent = DQN(gym.make("CartPole-v1"), hidden=ROUND_HIDDEN, learning_rate=2.3e-3,
                batch_size=B, buffer_size=100_000, learning_starts=1000, gamma=0.99,
                target_update_interval=256, tau=1.0, train_freq=256, gradient_steps=G,
                exploration=optax.linear_schedule(1.0, 0.04, 8000), n_step=1, double=False,
                max_grad_norm=10.0, seed=0)
    rng = np.random.default_rng(0)
    rows_ = _batch(rng, G * B)._replace(idx=np.arange(G * B, dtype=np.int32))
    batches = jax.tree_util.tree_map(lambda x: x.reshape(G, B, *x.shape[1:]),
                                     _strip(rows_))
    params, key = agent.params, agent.learner._key
    opt_state = DQNOptState(agent.learner.optimizer_state, agent._updates_device)
    floor_jit, optimizer = make_round_floor(ROUND_HIDDEN, 2.3e-3, 10.0)
    floor_state = (params.q, optimizer.init(params.q))
    host = [batches.S, batches.A, batches.Rn, batches.In, batches.S_next]

    c0 = time.process_time()
    agent._train_jit.lower(params, opt_state, batches, key).compile()
    c1 = time.process_time()
    floor_jit.lower(floor_state[0], floor_state[0], floor_state[1], *host).compile()
    c2 = time.process_time()

    def ours():
        return bool(agent._train_jit(params, opt_state, batches, key)[-1])

    def floor():
        return float(floor_jit(floor_state[0], floor_state[0], floor_state[1], *host)[-1][-1])

    r = _timing.compare(ours, floor, blocks=4 if quick else 16, calls=1 if quick else 3,
                        warmup=1 if quick else 3)
    env = agent.env
    env.close()
    return [{"name": ROUND_NAME,
             "learner": "QLearning", "batch_size": B, "path": "round", "target": ROUND_TARGET,
             "compile_s": round(c1 - c0, 2), "floor_compile_s": round(c2 - c1, 2), **r}]


def _strip(tb):
    """The one-step fields (what the agent's buffer stores)."""
    return tb._replace(A_seq=None, logP_seq=None, R_seq=None, gamma_seq=None, valid_seq=None,
                       S_seq=None, mask_seq=None)


def rows(quick=False, only=""):
    """Measure every row in this process; returns a list of result dicts."""
    import gymnasium as gym
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    import coaxlike
    from coaxlike.td_learning import DoubleQLearning, QLearning

    from ._floors import cartpole_func

    blocks, calls = (4, 10) if quick else (30, 40)
    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(0)
    out = []
    for name, cls in (("QLearning", QLearning), ("DoubleQLearning", DoubleQLearning)):
        q = coaxlike.Q(cartpole_func, env, random_seed=0)
        learner = cls(q, q_targ=q.copy(), optimizer=optax.adam(1e-3), random_seed=0)
        floor_jit, floor_step, optimizer = make_floor(cls is DoubleQLearning)
        for size in BATCHES:
            tb_host = _batch(rng, size)
            tb_dev = jax.device_put(tb_host)
            ls, key = learner.learner_state, jax.random.key(0)
            update_jit = jax.jit(learner.update_func)
            donated_jit = jax.jit(learner.update_func, donate_argnums=0)
            owned = {"ls": jax.tree_util.tree_map(jnp.copy, ls)}  # never donate q's arrays
            floor = {"params": q.params, "target": q.params, "opt": optimizer.init(q.params)}

            def floor_call(tb):
                floor["params"], floor["opt"], loss = floor_jit(
                    floor["params"], floor["target"], floor["opt"], tb.S, tb.A, tb.Rn, tb.In,
                    tb.S_next)
                return float(loss)

            def pure_call():
                nonlocal ls
                ls, metrics = update_jit(ls, tb_dev, key)
                return float(metrics["loss"])

            def donated_call():
                owned["ls"], metrics = donated_jit(owned["ls"], tb_dev, key)
                return float(metrics["loss"])

            stacked = jax.tree_util.tree_map(lambda x: np.stack([x] * SCAN_LENGTH), tb_host)
            scan_ours, scan_floor = _scan_pair(
                learner, floor_step, learner.learner_state,
                (q.params, q.params, optimizer.init(q.params)), jax.device_put(stacked), key)
            pairs = {
                "shell  learner.update(tb), numpy batch": (
                    lambda: float(learner.update(tb_host)["loss"]),
                    lambda: floor_call(tb_host)),
                "pure   jit(update_func), device batch": (pure_call,
                                                          lambda: floor_call(tb_dev)),
                "pure   jit(update_func, donate_argnums=0)": (donated_call,
                                                              lambda: floor_call(tb_dev)),
                f"scan   {SCAN_LENGTH} updates in one jit, per update": (scan_ours, scan_floor),
            }
            for path, (ours, fl) in pairs.items():
                row_name = f"{name:15s} B={size:<3d} {path}"
                if only not in row_name:
                    continue
                scan = path.startswith("scan")
                r = _timing.compare(ours, fl, blocks=blocks, calls=max(calls // 8, 2)
                                    if scan else calls, warmup=5 if quick else 20)
                if scan:
                    r["us"] /= SCAN_LENGTH
                    r["floor_us"] /= SCAN_LENGTH
                out.append({"name": row_name, "learner": name, "batch_size": size,
                            "path": path.split()[0], "target": TARGET, **r})
    env.close()
    if only in ROUND_NAME:
        out.extend(round_rows(quick))
    return out


def run(quick=False, only=""):
    """Measure in this process (the dispatch mode as already set); the result dict."""
    return {"benchmark": "update", "environment": _timing.environment(), "quick": quick,
            "rows": rows(quick, only)}


def main(argv=None):
    args = _timing.parse_args(__doc__.splitlines()[0], argv)
    _timing.set_dispatch(args.sync)
    result = run(args.quick, args.filter)
    mode = "sync dispatch" if args.sync else "default (async) dispatch"
    _timing.emit(result, args, f"{TITLE}, {mode}")
    return result


if __name__ == "__main__":
    main()
