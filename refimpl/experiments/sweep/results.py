"""The results file of a sweep: ``results.jsonl``, one run record a line, only ever appended.

Atomic appends: a record is serialised first, then written with one ``write`` on a file
opened with ``O_APPEND`` and synced (``fsync``) before the next. A crash can leave at most
the last line incomplete; readers skip such a line (:func:`~refimpl.experiments.metrics_log.
read_records`) and the next writer cuts it off before appending, so no complete record is
ever lost or corrupted. One sweep at a time writes to a folder (an exclusive ``flock`` on
``.lock`` beside the file).

Several records may share a key (a run that failed and was tried again): the last one counts.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from ..metrics_log import clean, read_records
from .record import FINISHED

RESULTS = "results.jsonl"
SESSIONS = "sessions.jsonl"
"""One line per session of a sweep (when, how long, where, the load average)."""


class AppendLog:
    """A JSON-lines file that is only appended to, one atomic, synced line at a time.

    Parameters
    ----------
    path : str or os.PathLike
        The file (created on the first :meth:`append`).
    """

    def __init__(self, path):
        self.path = Path(path)
        self._fd = None

    def records(self) -> list[dict]:
        """Every complete record, in file order."""
        return read_records(self.path)

    def append(self, record: dict) -> None:
        """Write ``record`` as one line, atomically, and sync it to disk."""
        line = (json.dumps(clean(record), allow_nan=False, sort_keys=False) + "\n").encode()
        if self._fd is None:
            self._open()
        view = memoryview(line)
        while view:                   # one write for a regular file; the loop is a guard
            view = view[os.write(self._fd, view):]
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _cut_partial_line(self.path, self._fd)


class ResultsFile(AppendLog):
    """``results.jsonl`` in a sweep's output folder: run records by key."""

    def latest(self) -> dict:
        """``{key: record}``, the last record of each key."""
        return {r["key"]: r for r in self.records() if isinstance(r.get("key"), str)}

    def finished(self) -> set:
        """Keys of the runs with a finished record (status ``ok`` or ``diverged``)."""
        return {k for k, r in self.latest().items() if r.get("status") in FINISHED}


def _cut_partial_line(path: Path, fd: int) -> None:
    """Drop an incomplete last line (left by a crash mid-write) so appends start afresh."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    with open(path, "rb") as f:
        f.seek(max(size - 1, 0))
        if f.read(1) == b"\n":
            return
        block, end = 1 << 16, size
        while end > 0:
            start = max(end - block, 0)
            f.seek(start)
            chunk = f.read(end - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                os.ftruncate(fd, start + cut + 1)
                return
            end = start
    os.ftruncate(fd, 0)


@contextlib.contextmanager
def exclusive(folder):
    """Hold ``folder/.lock`` exclusively for the block; a clear error if another sweep does.

    Raises
    ------
    OSError
        Another process holds the lock.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:                               # not POSIX: no locking
        yield
        return
    path = folder / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise OSError(f"another refimpl sweep (process {other}) is writing to {folder}; "
                          "wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
