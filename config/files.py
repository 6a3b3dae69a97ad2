"""Reading small secret files (the group key, the API token) without surprises.

A path that names a directory, a FIFO, a socket or a device is refused with a message that
says so. ``stat`` never blocks; the file is then opened non-blocking and checked again on the
open descriptor, so a FIFO swapped in between cannot hang the reader either.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class SecretFileError(OSError):
    """The file is missing, not a regular file, too large or unreadable."""


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def special_file_problem(path: Path) -> str | None:
    """``"is a FIFO, not a regular file"`` for a path that exists but is not a file."""
    try:
        info = path.stat()
    except OSError:
        return None
    if stat.S_ISREG(info.st_mode):
        return None
    return f"is {_kind(info.st_mode)}, not a regular file"


def read_secret(path: Path, *, max_bytes: int = 65536) -> tuple[str, os.stat_result]:
    """The text of a regular file and its ``stat``; raise :class:`SecretFileError`."""
    problem = special_file_problem(path)
    if problem is not None:
        raise SecretFileError(f"{path} {problem}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SecretFileError(f"{path} cannot be opened: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SecretFileError(f"{path} is {_kind(info.st_mode)}, not a regular file")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SecretFileError(f"{path} is larger than {max_bytes} bytes")
    try:
        return data.decode("utf-8"), info
    except UnicodeDecodeError:
        raise SecretFileError(f"{path} is not UTF-8 text") from None
