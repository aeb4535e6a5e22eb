"""Replacing a file atomically: write a temporary file beside it, sync, rename."""
import contextlib
import os
import stat
from typing import BinaryIO, Callable

__all__ = []  # private module

_TEMP_ATTEMPTS = 100


def _create_temp(directory: str, name: str) -> tuple[int, str]:
    """Open a new hidden temporary file beside the target; permissions follow the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_TEMP_ATTEMPTS):
        temp = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory!r}")


def _fsync_directory(directory: str) -> None:
    """Make the rename durable where the platform allows opening a directory (POSIX)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass            # the file is in place; some file systems cannot sync a directory
    finally:
        os.close(fd)


def write_atomically(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Run ``write`` on a temporary file beside ``path``, sync it and rename it onto ``path``.

    The new file keeps the permission bits of the file it replaces (a ``chmod 600``
    checkpoint stays private); a new file gets them from the umask. On any exception the
    temporary file is removed and whatever was at ``path`` is untouched.
    """
    if os.path.isdir(path):
        raise IsADirectoryError(f"path {path!r} is a directory; pass a file name in it")
    directory, name = os.path.split(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    fd, temp = _create_temp(directory, name)
    try:
        if mode is not None and hasattr(os, "fchmod"):
            os.fchmod(fd, mode)     # before any byte is written
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_directory(directory)
