"""Download a data set's files and verify them against the pinned sizes and SHA-256 digests.

Contract: after ``fetch`` returns, every file of the data set is in the target directory with
exactly the size and SHA-256 listed in :mod:`refimpl.data.checksums`. A file is streamed into
a temporary file in the target directory while its size and digest are computed; only a
verified file is renamed into place (``os.replace``, atomic on one file system). On any
failure the temporary file is removed and no final file is created or changed, so a file
under its final name is always a verified one; folders that ``fetch`` created are removed
again if they are still empty, so a failed fetch leaves nothing behind. A file already present
with the right digest is not downloaded again. Nothing is downloaded at import time.

Errors: a size or digest mismatch raises ``ValueError`` (expected vs got); a failed request
(HTTP error such as 404, refused connection, timeout) raises ``OSError``. Both name the URL.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from .._outputs import check_output_dir, make_dirs, remove_empty_dirs
from . import checksums
from .checksums import RemoteFile

_CHUNK = 1 << 20

Progress = Callable[[str, int, int], None]
"""``progress(filename, bytes_done, bytes_total)``, called after every chunk."""


def fetch(name: str, directory, *, base_url: str | None = None, timeout: float = 60,
          progress: Progress | None = None) -> list[Path]:
    """Download data set ``name`` into ``directory`` and verify every file.

    Parameters
    ----------
    name : {'mnist', 'fashion-mnist', 'cifar10'}
        Data set; its files are listed in ``refimpl.data.checksums.SOURCES``.
    directory : str or os.PathLike
        Target directory, created if missing. ``load_dataset(name, directory)`` reads it.
    base_url : str, optional
        Mirror to download from instead of the pinned host: file ``f`` is fetched from
        ``base_url.rstrip('/') + '/' + f``. Sizes and digests are checked all the same.
    timeout : float, default 60
        Seconds for connecting and for each read.
    progress : callable, optional
        ``progress(filename, bytes_done, bytes_total)``, called as data arrives.

    Returns
    -------
    list of pathlib.Path
        The verified files, in the order of the checksum table.

    Raises
    ------
    ValueError
        Unknown ``name``, bad ``timeout``, or a downloaded file whose size or SHA-256 differs
        from the pinned value (the message gives both; nothing is left behind).
    OSError
        The server answered with an HTTP error (e.g. 404) or could not be reached.
    """
    if name not in checksums.SOURCES:
        raise ValueError(f"unknown data set {name!r} to fetch; expected one of "
                         + ", ".join(repr(n) for n in checksums.SOURCES))
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    directory = check_output_dir(directory, "--data-dir")
    created = make_dirs(directory)
    paths = []
    try:
        for remote in checksums.SOURCES[name]:
            target = directory / remote.filename
            if not _is_verified(target, remote):
                url = (remote.url if base_url is None
                       else f"{base_url.rstrip('/')}/{remote.filename}")
                _download(url, target, remote, timeout, progress)
            paths.append(target)
    except BaseException:
        remove_empty_dirs(created)
        raise
    return paths


def sha256_of(path) -> str:
    """Hex SHA-256 of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _is_verified(path: Path, remote: RemoteFile) -> bool:
    """True if ``path`` exists with exactly the pinned size and digest."""
    return (path.is_file() and path.stat().st_size == remote.size
            and sha256_of(path) == remote.sha256)


def _download(url: str, target: Path, remote: RemoteFile, timeout: float,
              progress: Progress | None) -> None:
    """Stream ``url`` into a temporary file beside ``target``; rename it once verified."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            got, digest = _stream(url, out, remote, timeout, progress)
            out.flush()
            os.fsync(out.fileno())
        if got != remote.size:
            raise ValueError(f"{url}: size mismatch for {remote.filename}: expected "
                             f"{remote.size} bytes, got {got}; nothing was saved")
        if digest != remote.sha256:
            raise ValueError(f"{url}: SHA-256 mismatch for {remote.filename}: expected "
                             f"{remote.sha256}, got {digest}; nothing was saved")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _stream(url: str, out, remote: RemoteFile, timeout: float,
            progress: Progress | None) -> tuple[int, str]:
    """Copy the response body to ``out``; return (bytes read, hex SHA-256).

    Stops reading one chunk after the pinned size is exceeded: the size check then fails.
    """
    digest = hashlib.sha256()
    got = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                got += len(chunk)
                if progress is not None:
                    progress(remote.filename, got, remote.size)
                if got > remote.size:
                    break
    except urllib.error.HTTPError as exc:
        raise OSError(f"{url}: download of {remote.filename} failed: HTTP {exc.code} "
                      f"{exc.reason}; check the address, or download from a mirror "
                      "(--base-url URL; base_url= in Python)") from None
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError,
            ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OSError(f"{url}: download of {remote.filename} failed: {reason}; check the "
                      "network, or download from a mirror (--base-url URL; base_url= in "
                      "Python)") from None
    return got, digest.hexdigest()
