"""Hyperparameter sweeps on Dask: ``refimpl sweep SPEC``.

    load_spec(path) / parse_spec(text) -> SweepSpec     spec.py     the spec file, validated
    expand(spec) -> Plan (tasks by key, points)         plan.py     grid × random × seeds
    execute(task) -> record                             execute.py  one run, on any process
    record fields, without_timing(record)               record.py   what results.jsonl holds
    ResultsFile (atomic appends, resume)                results.py
    dask_client(...) (LocalCluster or --scheduler)      cluster.py  needs dask.distributed
    SweepProgress (done/total, time left)               progress.py
    run_sweep(spec, out, ...) -> summary                runner.py   the whole sweep
    write_report(plan, records, out)                    report.py   report.md, summary.json
    heatmaps, batch-size curves (matplotlib)            plots.py
    PRESETS (the "sensitivity" sweep)                   presets.py

Importing this package needs neither Dask nor matplotlib; :func:`run_sweep` imports Dask when
there is something to run, the report imports matplotlib for its plots.
"""
from .execute import execute
from .plan import Plan, Point, expand
from .record import FINISHED, RECORD_FORMAT, without_timing
from .results import ResultsFile
from .runner import run_sweep
from .spec import SpecError, SweepSpec, load_spec, parse_spec

__all__ = ["FINISHED", "Plan", "Point", "RECORD_FORMAT", "ResultsFile", "SpecError",
           "SweepSpec", "execute", "expand", "load_spec", "parse_spec", "run_sweep",
           "without_timing"]
