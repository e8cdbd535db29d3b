"""Opening a file that came from outside: a regular file only, and never a blocking open.

``open(path, "rb")`` on a FIFO waits forever for a writer, and on a device or a directory reads
something that is not a file at all. Every reader of untrusted files in tinynet (``tinynet.load``,
the IDX and CIFAR-10 loaders) opens through `open_regular`, which refuses all of these with a
ValueError naming the file. Standard library only, so `tinynet.data` can use it too.
"""
from __future__ import annotations

import os
import stat

# O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer (POSIX)
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


def open_regular(path, who: str):
    """Open ``path`` for binary reading; refuse anything but a regular file.

    ``who`` starts the error messages (e.g. ``"load"``). Raises FileNotFoundError when ``path``
    does not exist and ValueError naming it when it is a directory, FIFO, device or socket. The
    type is checked before opening (so a device is never opened) and again on the open descriptor
    (so a file swapped in between cannot slip through); the non-blocking open means that even a
    FIFO swapped in cannot block. The returned file blocks normally.
    """
    path = os.fspath(path)
    try:
        kind = _kind(os.stat(path).st_mode)
    except FileNotFoundError:
        raise FileNotFoundError(f"{who}: no such file: {path!r}") from None
    if kind is None:
        fd = os.open(path, _OPEN_FLAGS)
        try:
            kind = _kind(os.fstat(fd).st_mode)
            if kind is None:
                if hasattr(os, "O_NONBLOCK"):
                    os.set_blocking(fd, True)
                return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise ValueError(f"{who}: {path!r} is {kind}, not a regular file; give the path of a file on disk")
