"""What the learner publishes to actors: the online and target networks as numpy trees."""
import jax

__all__ = ["network_state", "set_network_state"]


def network_state(q, q_targ):
    """The parameters and function states of ``q`` and ``q_targ`` as numpy arrays.

    Numpy leaves travel through Ray's object store without JAX and are read zero-copy by
    the actors; the dict is what :class:`ApeX` publishes with one ``ray.put``.
    """
    return jax.device_get({"params": q.params, "function_state": q.function_state,
                           "target_params": q_targ.params,
                           "target_function_state": q_targ.function_state})


def set_network_state(q, q_targ, state):
    """Write a :func:`network_state` dict into ``q`` and ``q_targ`` (validating setters)."""
    q.params, q.function_state = state["params"], state["function_state"]
    q_targ.params, q_targ.function_state = state["target_params"], state["target_function_state"]
