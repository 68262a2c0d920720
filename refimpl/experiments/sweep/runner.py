"""``run_sweep``: run a spec's missing runs on Dask, append their records, write the report.

The output folder ``out`` holds:

- ``results.jsonl``: one record per finished run (:mod:`~refimpl.experiments.sweep.record`),
  appended as each run finishes (:mod:`~refimpl.experiments.sweep.results`);
- ``spec.json``: the spec of the last session, as parsed;
- ``report.md``, ``summary.json`` and the PNG plots (:mod:`~refimpl.experiments.sweep.report`).

Resuming: the runs whose key has a finished record (``ok`` or ``diverged``) are skipped, so
running the same command again after an interrupt, a crash or a spec that grew runs only what
is missing (and runs that ended in ``error`` again). Ctrl-C cancels the runs in flight, keeps
every record written, says how to continue, and re-raises ``KeyboardInterrupt``.

Only this process writes the results: a worker returns its record and the client appends it,
so workers need no shared file system, and a worker that dies takes no finished record with
it (its unfinished run is given to another worker by the scheduler).
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import os
import sys
import time
from pathlib import Path

from .execute import execute
from .plan import Plan, expand
from .progress import SweepProgress
from .record import error_record
from .results import RESULTS, SESSIONS, AppendLog, ResultsFile, exclusive
from .spec import SweepSpec


def run_sweep(spec: SweepSpec, out, *, client=None, scheduler: str | None = None,
              workers: int | None = None, timeout: float = 5.0, dashboard: str | None = None,
              report: bool = True, progress: bool = True, stream=None) -> dict:
    """Run what is missing of ``spec`` into ``out`` and write the report.

    Parameters
    ----------
    spec : SweepSpec
        From :func:`~refimpl.experiments.sweep.spec.load_spec`.
    out : str or os.PathLike
        Output folder (created).
    client, scheduler, workers, timeout, dashboard
        Where the runs go (:func:`~refimpl.experiments.sweep.cluster.dask_client`); default:
        a local cluster of one single-threaded worker per core. No cluster is started when
        nothing is missing.
    report : bool
        Write ``report.md``, ``summary.json`` and the plots at the end.
    progress : bool
        Show progress and messages on ``stream`` (default ``sys.stderr``).

    Returns
    -------
    dict
        ``runs`` (of the spec), ``ran`` (in this session), ``finished`` (all with a finished
        record), ``statuses`` (count per status), ``seconds`` (this session) and ``report``
        (the path of ``report.md`` or ``None``).

    Raises
    ------
    OSError
        Dask is not installed, the scheduler cannot be reached, or another sweep writes to
        ``out``.
    KeyboardInterrupt
        After cancelling the runs in flight; the records written are kept.
    """
    stream = sys.stderr if stream is None else stream
    session = {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), "load_average_start": _loadavg()}
    def say(text):
        if progress:
            _print(text, stream)
    plan = expand(spec)
    out = Path(out)
    start = time.perf_counter()
    with exclusive(out), ResultsFile(out / RESULTS) as results:
        _write_json(out / "spec.json", dataclasses.asdict(spec))
        latest = {k: r for k, r in results.latest().items() if k in plan.tasks}
        finished = results.finished() & set(plan.tasks)
        pending = [t for k, t in plan.tasks.items() if k not in finished]
        say(f"sweep {spec.name!r}: {len(plan.tasks)} runs, {len(finished)} finished earlier, "
            f"{len(pending)} to run; results in {out / RESULTS}")
        if pending:
            where = dict(client=client, scheduler=scheduler, workers=workers, timeout=timeout,
                         dashboard=dashboard)
            completed = False
            try:
                _run_on_dask(plan, pending, results, list(latest.values()), say, stream,
                             progress, where, session)
                completed = True
            finally:                          # interrupted, or the terminal went away, too
                _log_session(out, session, results, start, pending, not completed)
        latest = {k: r for k, r in results.latest().items() if k in plan.tasks}
    statuses: dict = {}
    for r in latest.values():
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    report_path = None
    if report:
        from .report import write_report
        report_path = write_report(plan, latest, out)
        say(f"report: {report_path}")
    return {"runs": len(plan.tasks), "ran": len(pending),
            "finished": statuses.get("ok", 0) + statuses.get("diverged", 0),
            "statuses": statuses, "seconds": time.perf_counter() - start,
            "report": None if report_path is None else str(report_path)}


def _run_on_dask(plan: Plan, pending: list, results: ResultsFile, history: list, say, stream,
                 progress: bool, where: dict, session: dict) -> None:
    """Run ``pending`` on Dask, appending each record as it arrives (``session["where"]``:
    the cluster)."""
    try:
        import distributed

        from . import cluster
    except ModuleNotFoundError as exc:
        if exc.name not in ("dask", "distributed"):
            raise
        raise OSError("refimpl sweep runs on Dask, which is not installed: "
                      "pip install 'refimpl[sweep]' (or dask[distributed])") from None
    with cluster.dask_client(**where) as client:
        tracker = SweepProgress(pending, len(plan.tasks), history,
                                max(len(client.nthreads()), 1), stream=stream,
                                enabled=progress)
        session["where"] = cluster.describe(client)
        say(f"running on {session['where']}")
        futures = {client.submit(execute, task, key=f"refimpl-sweep-{task['key']}",
                                 pure=False): task for task in pending}
        try:
            for future in distributed.as_completed(list(futures), loop=client.loop):
                task = futures[future]
                try:
                    record = future.result()
                except (Exception, asyncio.CancelledError) as exc:  # its worker died too often
                    record = error_record(task, f"{type(exc).__name__}: {exc}")
                results.append(record)
                tracker.finished(record)
                future.release()
        except KeyboardInterrupt:
            tracker.close()
            say(f"interrupted: {tracker.done} of {tracker.total} runs are finished and kept in "
                f"{results.path}; run the same command again to continue")
            _cancel(client, list(futures))
            raise
        tracker.close()


def _log_session(out: Path, session: dict, results: ResultsFile, start: float, pending: list,
                 interrupted: bool) -> None:
    """Append this session's line to ``sessions.jsonl`` (for the report's timing notes)."""
    keys = {t["key"] for t in pending}
    ran = sum(1 for r in results.latest().values() if r["key"] in keys)
    entry = {**session, "seconds": time.perf_counter() - start, "ran": ran,
             "load_average_end": _loadavg(), "interrupted": interrupted}
    with AppendLog(out / SESSIONS) as log:
        log.append(entry)


def _loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _print(text: str, stream) -> None:
    """A line of progress; a closed stream (``| tee`` ended by the same Ctrl-C) is no error."""
    try:
        print(text, file=stream, flush=True)
    except (OSError, ValueError):
        pass


def _cancel(client, futures) -> None:
    """Cancel the runs in flight; a second interrupt while doing so is not an error."""
    try:
        client.cancel(futures)
    except (KeyboardInterrupt, Exception):     # noqa: B036 - leaving anyway
        pass


def _write_json(path: Path, value) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
