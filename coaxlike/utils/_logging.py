"""Logging set-up for scripts: coax's ``enable_logging``."""
import logging
import os

__all__ = ["enable_logging"]


def enable_logging(name=None, level=logging.INFO, output_filepath=None, output_level=None):
    """Send log records (e.g. :class:`~coaxlike.wrappers.TrainMonitor`'s episode lines) to stderr.

    Configures the root logger with :func:`logging.basicConfig`, which does nothing when the
    root logger already has handlers (so calling it twice, or under a framework that set up
    logging, changes nothing). Optionally also appends the records to a file.

    Args:
        name: optional process name shown at the start of every line, ``[name|logger|LEVEL]``.
        level: the level of the stderr handler (default ``logging.INFO``).
        output_filepath: optional path of a log file; its directory is created if needed.
        output_level: the level of the file handler (default: ``level``).

    Raises:
        TypeError: if ``name`` is not a string or ``None``.

    Examples:
        >>> import logging
        >>> from coaxlike.utils import enable_logging
        >>> enable_logging("demo", level=logging.WARNING)
    """
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str or None, got {type(name).__name__}")
    prefix = "%(name)s|%(levelname)s" if name is None else f"{name}|%(name)s|%(levelname)s"
    logging.basicConfig(level=level, format=f"[{prefix}] %(message)s")
    if output_filepath is not None:
        os.makedirs(os.path.dirname(os.fspath(output_filepath)) or ".", exist_ok=True)
        handler = logging.FileHandler(output_filepath)
        handler.setLevel(level if output_level is None else output_level)
        logging.getLogger().addHandler(handler)
