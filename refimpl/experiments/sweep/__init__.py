"""Hyperparameter sweeps: the spec, its runs, and one run's record.

    load_spec(path) / parse_spec(text) -> SweepSpec     spec.py     the spec file, validated
    expand(spec) -> Plan (tasks by key, points)         plan.py     grid × random × seeds
    execute(task) -> record                             execute.py  one run, on any process
    record fields, without_timing(record)               record.py   what results.jsonl holds
    ResultsFile (atomic appends, resume)                results.py
    PRESETS (the "sensitivity" sweep)                   presets.py
"""
from .execute import execute
from .plan import Plan, Point, expand
from .record import FINISHED, RECORD_FORMAT, without_timing
from .results import ResultsFile
from .spec import SpecError, SweepSpec, load_spec, parse_spec

__all__ = ["FINISHED", "Plan", "Point", "RECORD_FORMAT", "ResultsFile", "SpecError",
           "SweepSpec", "execute", "expand", "load_spec", "parse_spec", "without_timing"]
