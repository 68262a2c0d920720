"""Metrics as JSON lines: one JSON object per line, appended as training goes.

A run directory holds three such files (see :mod:`refimpl.experiments.training`):
``steps.jsonl`` (one record per optimizer step), ``evals.jsonl`` (test-set evaluations) and
``epochs.jsonl`` (one record per epoch). Every record carries the optimizer ``step`` it was
taken at. Non-finite numbers are written as ``null`` so every line is strict JSON.

Resuming: records written after the last checkpoint describe steps that the resumed run will
take again, so :func:`truncate_after` drops every record with ``step`` beyond the checkpoint's
(and any partial last line an interrupt left behind) before the run appends again. The files
of a resumed run are therefore exactly those of an uninterrupted one, apart from timings.
"""
from __future__ import annotations

import json
import math
import numbers
import os
from pathlib import Path


class MetricsLog:
    """Append records to a JSON-lines file; each line is flushed as it is written.

    Parameters
    ----------
    path : str or os.PathLike
    fresh : bool
        Start an empty file (``True``) or append to an existing one (``False``).
    """

    def __init__(self, path, *, fresh: bool):
        self.path = Path(path)
        self._file = open(self.path, "w" if fresh else "a", encoding="utf-8")

    def append(self, record: dict) -> None:
        self._file.write(json.dumps(clean(record), allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def clean(record: dict) -> dict:
    """``record`` with numbers as plain ``int``/``float`` and NaN/±inf as ``None``."""
    out = {}
    for key, value in record.items():
        if isinstance(value, bool) or value is None or isinstance(value, str):
            out[key] = value
        elif isinstance(value, numbers.Integral):
            out[key] = int(value)
        elif isinstance(value, numbers.Real):
            out[key] = float(value) if math.isfinite(value) else None
        elif isinstance(value, dict):
            out[key] = clean(value)
        else:
            out[key] = value
    return out


def numeric_items(info: dict) -> dict:
    """The entries of an optimizer's ``info`` dict that are real numbers (not ``bool``)."""
    return {k: v for k, v in info.items()
            if isinstance(v, numbers.Real) and not isinstance(v, bool)}


def read_records(path) -> list[dict]:
    """All complete records of a JSON-lines file (a missing file has none).

    A last line without its newline, or one that is not a JSON object, is skipped: it can
    only be the remains of an interrupted write.
    """
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def truncate_after(path, step: int) -> None:
    """Keep only the records of ``path`` with ``record["step"] <= step`` (atomic rewrite)."""
    path = Path(path)
    kept = [r for r in read_records(path) if isinstance(r.get("step"), int) and r["step"] <= step]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for record in kept:
            f.write(json.dumps(record, allow_nan=False) + "\n")
    os.replace(tmp, path)
