"""Progress of a sweep: runs done / total, how they ended, and an estimate of the time left.

    sweep: 37/120 runs (2 diverged, 0 errors), 4:12 elapsed, about 9:30 left

On a terminal the line is redrawn in place; otherwise (logs, CI) a line is printed at most
every ``interval`` seconds, and at the end.

The estimate: a run's cost is its number of steps times the wall time per step of the
finished runs most like it — same optimizer, output metric, batch size and widths, else the
same optimizer, else all (records of earlier sessions included); the time left is the
pending runs' total cost divided by the parallelism measured so far (work done per elapsed
second, at most the number of workers). Early on, before every kind of run has finished
once, it is rough.
"""
from __future__ import annotations

import statistics
import sys
import time


def _kinds(config: dict) -> tuple:
    """From the most to the least specific: the groups whose cost per step a run shares."""
    optimizer = config.get("optimizer")
    return ((optimizer, config.get("output_metric"), config.get("batch_size"),
             tuple(config.get("widths") or ())), (optimizer,), ())


class SweepProgress:
    """Track and show a sweep's progress.

    Parameters
    ----------
    pending : list of dict
        Tasks to run in this session.
    total : int
        Runs of the whole sweep (finished earlier ones included).
    history : list of dict
        Records finished earlier (their wall times seed the estimate).
    workers : int
        Workers available (an upper bound of the parallelism).
    stream : text file, default ``sys.stderr``
    enabled : bool, optional
        Show anything at all (default ``True``).
    interval : float
        Seconds between printed lines when ``stream`` is not a terminal.
    """

    def __init__(self, pending: list, total: int, history: list, workers: int, *,
                 stream=None, enabled: bool = True, interval: float = 15.0):
        self.pending = {t["key"]: t for t in pending}
        self.total, self.workers = total, max(int(workers), 1)
        self.done = total - len(self.pending)
        self.counts = {"diverged": 0, "error": 0}
        self.per_step: dict = {}          # kind -> wall seconds per step of finished runs
        self.n_train = None               # training images (from a finished run's record)
        for r in history:
            self._learn(r)
        self.stream = sys.stderr if stream is None else stream
        self.enabled, self.interval = enabled, interval
        self.tty = _isatty(self.stream)
        self.start = time.perf_counter()
        self.session_work = 0.0
        self._last, self._width, self._text = -float("inf"), 0, None

    def finished(self, record: dict) -> None:
        """Count a run's record (of a pending task) and redraw."""
        if self.pending.pop(record["key"], None) is None:
            return
        self.done += 1
        if record.get("status") in self.counts:
            self.counts[record["status"]] += 1
        self.session_work += float(record.get("wall_seconds") or 0.0)
        self._learn(record)
        self.show()

    def eta(self) -> float | None:
        """Estimated seconds left, or ``None`` before anything is known."""
        if not self.pending:
            return 0.0
        if not self.per_step or self.n_train is None:
            return None
        work = 0.0
        for task in self.pending.values():
            c = task["config"]
            per_step = next(statistics.fmean(self.per_step[k]) for k in _kinds(c)
                            if k in self.per_step)
            work += per_step * c["epochs"] * max(self.n_train // c["batch_size"], 1)
        elapsed = time.perf_counter() - self.start
        parallel = self.session_work / elapsed if self.session_work > 0 else self.workers
        return work / min(max(parallel, 0.25), self.workers)

    def line(self) -> str:
        eta = self.eta()
        left = "estimating the time left" if eta is None else f"about {_clock(eta)} left"
        if not self.pending:
            left = "done"
        errors = self.counts["error"]
        return (f"sweep: {self.done}/{self.total} runs ({self.counts['diverged']} diverged, "
                f"{errors} error{'s' if errors != 1 else ''}), "
                f"{_clock(time.perf_counter() - self.start)} elapsed, {left}")

    def show(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        text = self.line()
        if self.tty:
            if not force and self.pending and now - self._last < 0.2:
                return
            self._write("\r" + text + " " * max(self._width - len(text), 0))
            self._width = len(text)
        else:
            if text == self._text or (not force and self.pending
                                      and now - self._last < self.interval):
                return
            self._write(text + "\n")
        self._last, self._text = now, text

    def close(self) -> None:
        """Show the last state and end the line."""
        if self.enabled:
            self.show(force=True)
            if self.tty:
                self._write("\n")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):          # the terminal or pipe is gone: stay quiet
            self.enabled = False

    def _learn(self, record: dict) -> None:
        if record.get("status") not in ("ok", "diverged") or not record.get("steps") \
                or not record.get("wall_seconds"):
            return
        self.n_train = (record.get("data") or {}).get("n_train_used", self.n_train)
        per_step = float(record["wall_seconds"]) / record["steps"]
        for kind in _kinds(record.get("config") or {}):
            self.per_step.setdefault(kind, []).append(per_step)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
