"""Atomic file writes: a temporary file beside the target, then one ``os.replace``.

Readers see either the old file or the complete new one, never half of one; if writing fails,
the temporary file is removed and the target is untouched.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def atomic_write(path, write, mode="wb", make_parents=False) -> Path:
    """Call ``write(file)`` on a temporary file in ``path``'s folder, then rename it onto ``path``.

    ``mode`` is 'wb' or 'w' (text: UTF-8, newlines untranslated). With ``make_parents`` the
    folder is created; otherwise a missing folder raises FileNotFoundError naming it.
    """
    path = Path(path)
    folder = path.absolute().parent
    if make_parents:
        folder.mkdir(parents=True, exist_ok=True)
    elif not folder.is_dir():
        raise FileNotFoundError(f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist; create it first")
    # Not tempfile.mkstemp: its private 0600 mode would survive the rename. Mode 0o666 lets the
    # umask decide, as a plain open() does; O_EXCL and a random name keep concurrent writers apart.
    tmp = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
