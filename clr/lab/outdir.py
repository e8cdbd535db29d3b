"""An output folder that always holds one whole run: checked before any work, swapped in at the end.

    with RunFolder(Path("demo-out"), expected=DEMO_FILES) as staging:
        ...                                   # hours of work; outputs written into ``staging``
    # here demo-out/ holds exactly this run's files

* **Before any work** the target is checked: it must be a folder we may write into (or a place where
  one can be created), and if it exists it may only hold files a previous run wrote (``expected``),
  so a mistyped ``--out ~`` is refused instead of replaced. A staging folder is created beside it at
  once, which proves that the place is writable.
* **During the run** outputs go into the staging folder (``.NAME.run-XXXX``), never into the target.
* **At the end** the staging folder is renamed onto the target: the old run is first renamed aside,
  the new one renamed into place, then the old one deleted. A reader sees the old whole run or the
  new whole run (for an instant, between the two renames, no folder at all), never a mixture:
  Ctrl-C while the plots are written leaves the previous run untouched.
* **On failure or Ctrl-C** the staging folder is removed and the target is left as it was.
"""
from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Iterable


class OutputFolderError(ValueError):
    """The output folder cannot be used; the message names it and says what to do."""


class RunFolder:
    """Context manager: a staging folder for one run's outputs, swapped onto ``target`` on success.

    Args:
        target: the folder the user asked for (``--out``).
        expected: the file names a run writes; an existing ``target`` holding anything else is refused.
        option: how the user named the folder, for error messages (e.g. '--out').
    """

    def __init__(self, target: str | os.PathLike, expected: Iterable[str], option: str = "--out"):
        self.target = Path(target)
        self.expected = frozenset(expected)
        self.option = option
        self.staging: Path | None = None
        self._check()

    def _check(self) -> None:
        t, opt = self.target, self.option
        if t.exists() and not t.is_dir():
            raise OutputFolderError(f"{opt} {str(t)!r} is a file, not a folder; give a folder name (it is created "
                                    "if needed)")
        if t.is_dir():
            foreign = sorted(p.name for p in t.iterdir() if p.name not in self.expected)
            if foreign:
                shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
                raise OutputFolderError(
                    f"{opt} {str(t)!r} already holds files that this command did not write ({shown}); the run "
                    "replaces the whole folder, so give a new or empty folder, or one from a previous run")
        parent = t.absolute().parent
        existing = parent
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise OutputFolderError(f"{opt} {str(t)!r}: {str(existing)!r} is a file, so no folder can be made "
                                    "there; choose another place")
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.staging = parent / f".{t.name}.run-{os.getpid()}-{secrets.token_hex(4)}"
            self.staging.mkdir()
        except OSError as e:
            raise OutputFolderError(f"{opt} {str(t)!r} cannot be written ({e.strerror or e}); choose a folder you "
                                    "may write to") from None

    def __enter__(self) -> Path:
        return self.staging

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            return False
        self.commit()
        return False

    def commit(self) -> Path:
        """Swap the staging folder onto the target (see the module docstring); returns the target."""
        old = None
        if self.target.exists():
            old = self.target.with_name(f".{self.target.name}.old-{secrets.token_hex(4)}")
            os.replace(self.target, old)
        os.replace(self.staging, self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.target
