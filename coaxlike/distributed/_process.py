"""Facts about the current process that workers report: peak memory and Ray node."""
import resource
import warnings

from ._ray import ray

__all__ = ["peak_rss_mb", "node_id", "reconstructed"]


def peak_rss_mb():
    """This process's peak resident memory in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def node_id():
    """The Ray node this process runs on (hex string), or ``None`` without Ray."""
    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def reconstructed():
    """Whether this process is a Ray actor that Ray restarted after a failure."""
    if not ray.is_initialized():
        return False
    context = ray.get_runtime_context()
    if context.get_actor_id() is None:
        return False
    with warnings.catch_warnings():  # Ray's property reads its own deprecated actor_id
        warnings.simplefilter("ignore", DeprecationWarning)
        return bool(context.was_current_actor_reconstructed)
