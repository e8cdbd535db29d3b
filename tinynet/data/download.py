"""Finding dataset files on disk, and downloading them safely when allowed.

Search order for the files of dataset `name` (the first place that has a file wins, file by file):

    1. `root`, when the caller passes one (the folder that holds the files themselves)
    2. $TINYNET_DATA/<name>, when the environment variable is set
    3. /usr/share/datasets/<name>   (where Debian's dataset-* packages install)
    4. ~/.cache/tinynet/<name>

Downloads (only with ``download=True``) go to $TINYNET_DATA/<name> if set, else ~/.cache/tinynet/<name>;
tinynet never writes into `root` or /usr/share. A download is streamed into a temporary file in the
target folder, its length is compared with the Content-Length the server announced and its md5 with
the official one (when known), and only then is it renamed into place with `os.replace` (atomic on
one file system), so an interrupted or corrupted download never leaves a file that looks valid.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable, Sequence

SYSTEM_DIR = Path("/usr/share/datasets")
ENV_VAR = "TINYNET_DATA"
# The most bytes one data file (an IDX file's contents, a CIFAR-10 batch) may unpack to unless the
# caller allows more: 20 times the largest official file (MNIST's 47 MB), room for EMNIST (550 MB),
# and a bound on what a small compressed file can make tinynet allocate.
MAX_BYTES = 1 << 30
_CHUNK = 1 << 20
_TIMEOUT_S = 60


def cache_dir(name: str) -> Path:
    """~/.cache/tinynet/<name>: the last place searched, and the default download folder."""
    return Path.home() / ".cache" / "tinynet" / name


def download_dir(name: str) -> Path:
    """Where downloads of dataset `name` go: $TINYNET_DATA/<name> if set, else the cache."""
    env = os.environ.get(ENV_VAR)
    return Path(env) / name if env else cache_dir(name)


def search_dirs(name: str, root: str | Path | None = None) -> list[tuple[Path | None, str]]:
    """The folders searched for dataset `name`, in order, as (folder or None, label) pairs.

    The label says where the folder comes from; it is used in error messages. A place that does not
    apply (no `root` given, $TINYNET_DATA unset) is listed with folder None so that messages can still
    mention it.
    """
    env = os.environ.get(ENV_VAR)
    return [
        (Path(root).expanduser() if root is not None else None, "root argument"),
        (Path(env) / name if env else None, f"${ENV_VAR}/{name}"),
        (SYSTEM_DIR / name, "system datasets (Debian dataset-* packages)"),
        (cache_dir(name), "user cache"),
    ]


def find_file(name: str, filenames: Sequence[str], root: str | Path | None = None) -> Path | None:
    """The first existing file among `filenames` in the search folders of `name`, or None.

    `filenames` are alternatives for one file (e.g. ``x.gz`` and ``x``), tried in each folder in turn.
    """
    for folder, _ in search_dirs(name, root):
        if folder is None:
            continue
        for filename in filenames:
            path = folder / filename
            if path.is_file():
                return path
    return None


def not_found_error(what: str, name: str, filename: str, root: str | Path | None,
                    ways: Iterable[str]) -> FileNotFoundError:
    """A FileNotFoundError that lists every place searched and the ways to get the data."""
    places = [f"  {i}. {label}: {folder if folder is not None else '(not set)'}"
              for i, (folder, label) in enumerate(search_dirs(name, root), start=1)]
    ways = [f"  - {way}" for way in ways]
    ways.append(f"  - put the file into one of the folders above, or set {ENV_VAR}=/some/dir "
                f"and put it into /some/dir/{name}/")
    return FileNotFoundError(f"{what}: file {filename!r} not found. Searched, in order:\n"
                             + "\n".join(places) + "\nWays to get it:\n" + "\n".join(ways))


def md5_bytes(*parts: bytes) -> str:
    """The md5 of the concatenated `parts` (without concatenating them)."""
    digest = hashlib.md5(usedforsecurity=False)
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def md5_file(path: str | Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_md5(actual: str, expected: str, source: str, what: str, advice: str) -> None:
    """Raise ValueError naming `source` when the md5 `actual` differs from `expected`."""
    if actual != expected:
        raise ValueError(f"{source}: md5 of {what} is {actual}, expected {expected}; the file is "
                         f"corrupt or not the official one. {advice}")


def download_file(urls: Sequence[str], dest: str | Path, md5: str | None) -> Path:
    """Download the first reachable of `urls` to `dest`, checking its md5 (skipped when md5 is None).

    Mirrors are tried in order. The bytes go to a temporary file beside `dest` and are renamed onto
    `dest` only after the md5 matched, so `dest` is either absent or complete and verified.
    Raises ValueError if a mirror served bytes with the wrong md5 (after trying the others), and
    ConnectionError if no mirror could be reached or each one's download was cut short (fewer or
    more bytes than its Content-Length announced).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures, wrong_bytes = [], False
    for url in urls:
        try:
            actual = _fetch_to(url, dest, md5)
        except _MirrorError as err:
            failures.append(f"  - {url}: {err.__cause__}")
            continue
        if actual is None:
            return dest
        wrong_bytes = True
        failures.append(f"  - {url}: md5 {actual}, expected {md5}")
    report = "\n".join(failures)
    if wrong_bytes:
        raise ValueError(f"download of {dest.name} failed the checksum test; nothing was saved:\n"
                         f"{report}\nTry again later, or get the file another way.")
    raise ConnectionError(f"could not download {dest.name}; nothing was saved:\n{report}\n"
                          "Check the network, or get the file another way.")


class _MirrorError(Exception):
    """A mirror could not be read (network trouble); local disk errors are not wrapped."""


def _fetch_to(url: str, dest: Path, md5: str | None) -> str | None:
    """Stream `url` into `dest` atomically; return None on success, or the wrong md5 (dest untouched)."""
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=_TIMEOUT_S)
            except (urllib.error.URLError, OSError, ValueError) as err:  # ValueError: bad URL
                raise _MirrorError from err
            with response:
                announced, received = _announced_length(response), 0
                while chunk := _read_chunk(response):
                    digest.update(chunk)
                    out.write(chunk)
                    received += len(chunk)
            # a connection closed early can look like a normal end of the stream; without an md5
            # to check (verify=False), the announced length is what tells a cut download
            if announced is not None and received != announced:
                raise _MirrorError from ConnectionError(
                    f"received {received} bytes but the server announced {announced} (Content-Length); "
                    "the download was cut short")
            out.flush()
            os.fsync(out.fileno())  # the data is on disk before the rename makes it visible
        if md5 is not None and digest.hexdigest() != md5:
            return digest.hexdigest()
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; a data file can be world-readable
        os.replace(tmp_name, dest)
        tmp_name = None
        return None
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)


def _announced_length(response) -> int | None:
    """The Content-Length a response announced, or None (absent, or not a number)."""
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _read_chunk(response) -> bytes:
    try:
        return response.read(_CHUNK)
    except (OSError, http.client.HTTPException) as err:  # reset, timeout, incomplete read
        raise _MirrorError from err


def find_or_download(what: str, name: str, filename: str, *, root: str | Path | None,
                     mirrors: Sequence[str], md5: str | None, download: bool,
                     ways: Iterable[str] = (), alternatives: Sequence[str] = ()) -> Path:
    """Path of `filename` (or one of its `alternatives`) in the search folders of dataset `name`.

    If it is in none of them: with ``download=True`` fetch it from ``mirror + filename`` for each of
    `mirrors` (checking the official md5 of the downloaded file, `md5`); otherwise raise the
    FileNotFoundError of `not_found_error`, which lists `ways` to get the data.
    """
    path = find_file(name, [filename, *alternatives], root)
    if path is not None:
        return path
    if not download:
        ways = [*ways, f"call again with download=True to fetch it from {mirrors[0]}{filename} "
                       f"into {download_dir(name)} (md5 checked)"] if mirrors else list(ways)
        raise not_found_error(what, name, filename, root, ways)
    return download_file([m + filename for m in mirrors], download_dir(name) / filename, md5)
