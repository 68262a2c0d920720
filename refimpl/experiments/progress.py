"""A one-line progress bar on a text stream, redrawn in place with carriage returns.

    epoch 2/5 |#########.........|  17/32  loss 0.4123  0.05 s/step

It writes only when enabled (by default: when the stream is a terminal, so logs and captured
output stay clean) and at most every ``min_interval`` seconds, except for the last update.
"""
from __future__ import annotations

import sys
import time


class ProgressBar:
    """Progress of ``total`` units of work, with free-form numbers after the bar.

    Parameters
    ----------
    total : int
        Units of work (steps, bytes).
    label : str
        Text before the bar.
    stream : text file, default ``sys.stderr``
    enabled : bool, optional
        Draw at all; default: ``stream.isatty()``.
    unit : {'step', 'B'}
        ``'B'`` shows counts in MB.
    width : int
        Characters of the bar itself.
    min_interval : float
        Seconds between redraws.

    Examples
    --------
    >>> import io
    >>> bar = ProgressBar(4, label="demo", stream=io.StringIO(), enabled=True)
    >>> for i in range(1, 5):
    ...     bar.update(i, loss=1.0 / i)
    >>> bar.close()
    """

    def __init__(self, total: int, *, label: str = "", stream=None, enabled: bool | None = None,
                 unit: str = "step", width: int = 24, min_interval: float = 0.1):
        self.total, self.label, self.unit = max(int(total), 1), label, unit
        self.stream = sys.stderr if stream is None else stream
        self.enabled = _isatty(self.stream) if enabled is None else bool(enabled)
        self.width, self.min_interval = width, min_interval
        self._start = time.perf_counter()
        self._last_draw = -float("inf")
        self._last_len = 0
        self._drawn = False

    def update(self, done: int, **numbers) -> None:
        """Show ``done`` of ``total`` units and ``name value`` for each keyword."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if done < self.total and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        filled = int(self.width * min(done, self.total) / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        parts = [f"{self.label} |{bar}| {self._count(done)}/{self._count(self.total)}"]
        parts += [f"{k} {_fmt(v)}" for k, v in numbers.items()]
        if done > 0 and self.unit == "step":
            parts.append(f"{(now - self._start) / done:.3g} s/step")
        line = "  ".join(parts)
        pad = max(self._last_len - len(line), 0)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._last_len, self._drawn = len(line), True

    def close(self) -> None:
        """End the line (if anything was drawn)."""
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def _count(self, n: int) -> str:
        return f"{n / 1e6:.1f} MB" if self.unit == "B" else f"{n:>{len(str(self.total))}d}"


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
