"""The sweep spec: parsing, one-line errors naming the field, and its expansion into runs."""
import gzip
import json
from pathlib import Path

import pytest
from sweep_cases import BAD_SPECS, TINY

from refimpl.cli import main
from refimpl.experiments.sweep import SpecError, expand, load_spec, parse_spec
from refimpl.experiments.sweep.presets import PRESETS


@pytest.mark.parametrize("text, expected", BAD_SPECS, ids=[e for _, e in BAD_SPECS])
def test_malformed_spec_is_one_line_error_naming_the_field(text, expected, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {expected}") and "\n" not in message


def test_cli_reports_a_bad_spec_in_one_line_and_exit_1(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"optimizers": [{"name": "a", "optimizer": "sgd",
                                                "grid": {"lr": [0.1, "fast"]}}]}))
    code = main(["sweep", str(path), "--dry-run"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "optimizers[0] ('a').grid.lr[1]: lr must be a finite number > 0" in err


def test_grid_runs_seed_major_with_shared_runs_once():
    spec = parse_spec(TINY + '''
[[optimizers]]
name = "riem-again"
optimizer = "riemannian"
output_metric = "identity"
mass = 0.1
[optimizers.grid]
lr = [1.0, 0.5]
''')
    plan = expand(spec)
    assert len(plan.points) == 2 * (2 + 2 + 2)
    assert len(plan.tasks) == 2 * (2 + 2 + 1)           # mass 0.1, lr 1 is shared
    seeds = [t["config"]["seed"] for t in plan.tasks.values()]
    assert seeds == sorted(seeds)
    momentum = [t for t in plan.tasks.values() if t["config"]["optimizer"] == "momentum"]
    assert sorted(t["options"]["beta"] for t in momentum) == [0.5, 0.5, 0.9, 0.9]
    assert plan.entry_points("riem")[0].settings == {"mass": 0.01}


def test_keys_depend_on_the_run_not_on_how_the_spec_writes_it():
    a = expand(parse_spec(TINY))
    b = expand(parse_spec(TINY.replace("[defaults]\nepochs = 1", "[defaults]\nepochs = 1\n"
                                       "max_loss_factor = 10.0")))
    assert list(a.tasks) == list(b.tasks)
    c = expand(parse_spec(TINY.replace("lr = 0.05", "lr = 0.06")))
    assert len(set(a.tasks) & set(c.tasks)) == 4       # the Riemannian runs are unchanged


def test_random_samples_are_reproducible_rounded_and_within_bounds():
    text = TINY + '''
[[optimizers]]
name = "search"
optimizer = "riemannian"
[optimizers.random]
samples = 6
seed = 3
mass = { log_uniform = [1e-4, 1.0] }
batch_size = { int_uniform = [10, 20] }
output_metric = { choice = ["identity", "gauss-newton"] }
'''
    points = [p.settings for p in expand(parse_spec(text)).entry_points("search")]
    assert points == [p.settings for p in expand(parse_spec(text)).entry_points("search")]
    masses = [p["mass"] for p in points]
    assert all(1e-4 <= m <= 1.0 and m == float(f"{m:.4g}") for m in masses)
    assert all(10 <= p["batch_size"] <= 20 for p in points)
    assert {p["output_metric"] for p in points} <= {"identity", "gauss-newton"}
    assert len(points) == 2 * 6 and len(set(masses)) == 6


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_parse(name):
    plan = expand(parse_spec(PRESETS[name].text, source=name))
    assert len(plan.tasks) > 0


def test_the_shipped_sensitivity_records_are_the_presets_runs():
    """``docs/sweep/sensitivity-results.jsonl.gz`` holds one record for each run of the
    ``sensitivity`` preset, found by its key: a change to the run keys (a new config field
    that enters the hash, say) would make ``refimpl sweep`` redo every stored run."""
    path = Path(__file__).parents[2] / "docs" / "sweep" / "sensitivity-results.jsonl.gz"
    with gzip.open(path, "rt") as f:
        stored = {json.loads(line)["key"] for line in f}
    planned = set(expand(parse_spec(PRESETS["sensitivity"].text, source="preset")).tasks)
    assert len(planned) == 285 and stored == planned


def test_examples_parse():
    examples = sorted((Path(__file__).parents[2] / "examples").glob("sweep_*"))
    assert examples
    for path in examples:
        assert len(expand(load_spec(path)).tasks) > 0, path


def test_dry_run_lists_the_runs(tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    assert main(["sweep", str(path), "--dry-run", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "riem: 2 points x 2 seeds" in out and "8 runs, 0 finished" in out


def test_a_relative_data_folder_is_taken_relative_to_the_spec(tmp_path):
    path = tmp_path / "sub" / "s.toml"
    path.parent.mkdir()
    path.write_text(TINY.replace("[data]", "[data]\nname = 'mnist'\ndir = '../files'"))
    assert load_spec(path).data.dir == str((tmp_path / "files").resolve())
