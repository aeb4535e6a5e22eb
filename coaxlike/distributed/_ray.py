"""The one place that imports Ray, with an error naming the extra when it is missing."""
try:
    import ray
except ImportError as e:  # pragma: no cover - exercised by simulating the failure in a test
    raise ImportError(
        "coaxlike.distributed needs Ray, which is an optional dependency: install it with "
        "pip install 'coaxlike[distributed]'") from e

__all__ = ["ray"]
