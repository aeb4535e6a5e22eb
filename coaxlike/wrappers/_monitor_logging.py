"""Where the monitors' episode lines go, without configuring the application's logging.

A library must not configure the root logger (``logging.basicConfig``): that is the
application's choice. The monitors log to ``coaxlike.TrainMonitor[.<name>]``; that logger
holds one handler of its own, which writes to stderr only while no other handler would
receive the records (an application that has not set up logging, as most coax scripts):
once the application configures logging, the lines go where it says, and only there.
"""
import logging
import os
import sys

__all__ = []  # private module

LOGGER = "coaxlike.TrainMonitor"
_FORMAT = "[%(name)s|%(levelname)s] %(message)s"


class _StderrFallback(logging.Handler):
    """Writes a record to stderr unless a handler above ``coaxlike.TrainMonitor`` (on
    ``coaxlike`` or the root logger) will receive it too."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter(_FORMAT))

    def emit(self, record):
        if _handled_above(logging.getLogger(LOGGER)):
            return
        try:
            sys.stderr.write(self.format(record) + "\n")  # sys.stderr as it is now
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging's own policy for failing handlers
            self.handleError(record)


def _handled_above(logger):
    while logger.propagate and logger.parent is not None:
        logger = logger.parent
        if logger.handlers:
            return True
    return False


def monitor_logger(name=None, level=logging.INFO, output_filepath=None, output_level=None):
    """The logger of one monitor, ``coaxlike.TrainMonitor`` or ``coaxlike.TrainMonitor.<name>``,
    set to ``level``; with ``output_filepath`` the records also go to that file (at
    ``output_level``, default ``level``). The root logger is left alone."""
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str or None, got {type(name).__name__}")
    parent = logging.getLogger(LOGGER)
    if not any(isinstance(h, _StderrFallback) for h in parent.handlers):
        parent.addHandler(_StderrFallback())
    logger = logging.getLogger(LOGGER if name is None else f"{LOGGER}.{name}")
    logger.setLevel(level)
    if output_filepath is not None:
        path = os.path.abspath(os.fspath(output_filepath))
        if not any(getattr(h, "baseFilename", None) == path for h in logger.handlers):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            handler = logging.FileHandler(path)
            handler.setFormatter(logging.Formatter(_FORMAT))
            handler.setLevel(level if output_level is None else output_level)
            logger.addHandler(handler)
    return logger
