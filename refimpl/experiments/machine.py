"""How busy the machine was while something was timed: wall time, this process's CPU time, and
the CPU time taken by every other process.

Wall times on a shared machine mislead: with another process on one of two cores, a step that
uses both cores (BLAS threads) slows down several times, one that uses a single core hardly at
all. So training records, beside each wall time, the process CPU time
(:func:`time.process_time`: all threads of this process, user and system) and, per epoch,
how many cores other processes kept busy on average, from the per-CPU counters of
``/proc/stat`` for the CPUs this process may run on (``os.sched_getaffinity``):

    other_cores = (Δ busy CPU time of those CPUs − Δ CPU time of this process) / Δ wall time

where "busy" is every state but idle and I/O wait. ``None`` where ``/proc/stat`` is not
available (not Linux). The counters tick at ``SC_CLK_TCK`` (usually 100 Hz), so
intervals shorter than a second or so are noisy. In a container limited by CPU quota rather
than by a CPU set, other containers on the same CPUs count as "other processes" too — which
is right, since they compete for the same cores.

Examples
--------
>>> start = sample()
>>> usage = between(start, sample())
>>> sorted(usage)
['cores', 'cpu_seconds', 'other_cores', 'seconds']
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

LOADED_FRACTION = 0.1
"""Other processes using more than this fraction of the cores on average count as a load
that makes wall times unreliable (the reports say so)."""

_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)      # user nice system irq softirq steal (not idle, iowait)


@dataclass(frozen=True)
class Sample:
    """Counters at one moment: ``wall`` (``perf_counter``), ``cpu`` (this process's CPU
    seconds), ``busy`` (busy CPU seconds of this process's CPUs, all processes; ``None`` off
    Linux)."""

    wall: float
    cpu: float
    busy: float | None


def cores() -> int:
    """The number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _busy_seconds() -> float | None:
    try:
        allowed = {f"cpu{i}" for i in os.sched_getaffinity(0)}
        tick = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat", encoding="ascii") as f:
            lines = [line.split() for line in f if line.startswith("cpu")]
    except (AttributeError, OSError, ValueError):
        return None
    total = 0
    for fields in lines:
        if fields[0] in allowed:
            values = [int(v) for v in fields[1:]]
            total += sum(values[i] for i in _BUSY_FIELDS if i < len(values))
    return total / tick


def sample() -> Sample:
    """The counters now."""
    return Sample(time.perf_counter(), time.process_time(), _busy_seconds())


def between(start: Sample, end: Sample) -> dict:
    """``{"seconds", "cpu_seconds", "other_cores", "cores"}`` from ``start`` to ``end``:
    wall seconds, this process's CPU seconds, the average number of cores other processes
    kept busy (``None`` if unknown), and the number of cores this process may use."""
    wall = end.wall - start.wall
    cpu = end.cpu - start.cpu
    other = None
    if start.busy is not None and end.busy is not None and wall > 0:
        other = max(end.busy - start.busy - cpu, 0.0) / wall
    return {"seconds": wall, "cpu_seconds": cpu, "other_cores": other, "cores": cores()}


def is_loaded(other_cores: float | None, n_cores: int) -> bool:
    """Whether other processes' average load makes wall times unreliable."""
    return other_cores is not None and other_cores > LOADED_FRACTION * n_cores
