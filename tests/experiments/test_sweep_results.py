"""results.jsonl: atomic appends, a crash's partial line, the latest record per key, the lock."""
import json
import os

import pytest

from refimpl.experiments.sweep import ResultsFile
from refimpl.experiments.sweep.results import exclusive


def _record(key, status="ok", value=1.0):
    return {"key": key, "status": status, "value": value}


def test_append_then_read_back_in_order(tmp_path):
    with ResultsFile(tmp_path / "r.jsonl") as results:
        for i in range(3):
            results.append(_record(f"k{i}", value=i / 3))
    assert [r["value"] for r in ResultsFile(tmp_path / "r.jsonl").records()] == [0, 1 / 3, 2 / 3]


def test_a_partial_last_line_is_skipped_then_cut_before_the_next_append(tmp_path):
    path = tmp_path / "r.jsonl"
    with ResultsFile(path) as results:
        results.append(_record("a"))
    with open(path, "a") as f:                       # what a crash mid-write leaves
        f.write(json.dumps(_record("b"))[:12])
    assert [r["key"] for r in ResultsFile(path).records()] == ["a"]
    with ResultsFile(path) as results:
        results.append(_record("c"))
    assert [r["key"] for r in ResultsFile(path).records()] == ["a", "c"]
    assert path.read_text().count("\n") == 2


def test_the_last_record_of_a_key_counts_and_errors_are_not_finished(tmp_path):
    with ResultsFile(tmp_path / "r.jsonl") as results:
        results.append(_record("a", "error"))
        results.append(_record("b", "diverged"))
        results.append(_record("c", "error"))
        results.append(_record("a", "ok"))
    assert results.latest()["a"]["status"] == "ok"
    assert results.finished() == {"a", "b"}


def test_non_finite_numbers_are_written_as_null(tmp_path):
    with ResultsFile(tmp_path / "r.jsonl") as results:
        results.append(_record("a", value=float("nan")))
    assert results.records()[0]["value"] is None


def test_a_second_sweep_on_the_same_folder_is_a_clear_error(tmp_path):
    with exclusive(tmp_path):                        # flock: a second open file is refused
        with pytest.raises(OSError, match=f"process {os.getpid()}.*is writing to"):
            with exclusive(tmp_path):
                pass
    with exclusive(tmp_path):                        # free again
        pass
