"""Ray: the one import (with an error naming the extra when it is missing) and start-up."""
import logging
import warnings

try:
    import ray
except ImportError as e:  # exercised by simulating the failure in a test
    raise ImportError(
        "coaxlike.distributed needs Ray, which is an optional dependency: install it with "
        "pip install 'coaxlike[distributed]'") from e

__all__ = ["ray", "init_ray"]

logger = logging.getLogger("coaxlike.distributed")

# ray.init arguments that size a new local instance; ray.init refuses them when it joins a
# running cluster (found through RAY_ADDRESS or `ray start` on this machine)
_NEW_INSTANCE_ONLY = ("num_cpus", "num_gpus", "resources", "labels", "object_store_memory",
                      "_system_config")


def init_ray(**kwargs):
    """``ray.init(**kwargs)``; when it joins a running cluster, without the arguments that
    only size a new local instance (logged), so one program serves a laptop and a cluster."""
    with warnings.catch_warnings():
        # JAX warns at every fork once it runs threads; Ray forks only to exec its own
        # processes (subprocess), which is safe
        warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
        try:
            ray.init(**kwargs)
        except ValueError as e:
            dropped = [k for k in _NEW_INSTANCE_ONLY if k in kwargs]
            if "existing cluster" not in str(e) or not dropped:
                raise
            logger.info("joining a running Ray cluster: ignoring %s (they size a new local "
                        "instance)", ", ".join(dropped))
            ray.init(**{k: v for k, v in kwargs.items() if k not in _NEW_INSTANCE_ONLY})
