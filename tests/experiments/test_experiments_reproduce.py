"""A tiny ``refimpl reproduce`` end to end: report, summary, metrics and plots."""
import json

import pytest

from refimpl.cli import main
from refimpl.experiments import PLAN

SUMMARY_KEYS = {"train_loss", "test_accuracy", "seconds_per_epoch", "seconds",
                "hyperparameters", "epochs", "status"}


def test_reproduce_end_to_end(use_tiny_data, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    keys = ["sgd", "riemannian-identity"]
    code = main(["reproduce", "--epochs", "1", "--optimizers", ",".join(keys), "--widths", "4",
                 "--batch-size", "16", "--out", str(tmp_path)])
    assert code == 0
    assert str(tmp_path / "report.md") in capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary["optimizers"]) == keys
    for key, entry in summary["optimizers"].items():
        assert SUMMARY_KEYS <= set(entry)
        assert 0.0 <= entry["test_accuracy"] <= 1.0 and entry["epochs"] == 1
        assert entry["hyperparameters"]["lr"] == PLAN[key].hyper["lr"]
        for name in ("steps.jsonl", "evals.jsonl", "epochs.jsonl", "checkpoint.json"):
            assert (tmp_path / key / name).is_file()
    report = (tmp_path / "report.md").read_text()
    assert "| SGD |" in report and "## Commentary" in report
    for png in ("loss_vs_epoch.png", "loss_vs_time.png", "accuracy_vs_time.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reproduce_reports_a_divergence_and_goes_on(use_tiny_data, tmp_path, monkeypatch):
    from refimpl.experiments import reproduction
    broken = dict(PLAN, sgd=reproduction.Run("SGD", "sgd", {"lr": 1e6}, epochs=3))
    monkeypatch.setattr(reproduction, "PLAN", broken)
    summary = reproduction.reproduce(tmp_path, optimizers=["sgd", "adam"], widths=(4,),
                                     batch_size=16, quiet=True)
    assert summary["optimizers"]["sgd"]["status"] == "diverged"
    assert summary["optimizers"]["adam"]["status"] == "ok"
    assert "SGD diverged" in (tmp_path / "report.md").read_text()


def test_default_epochs_come_from_the_plan(use_tiny_data, tmp_path):
    from refimpl.experiments import reproduce
    summary = reproduce(tmp_path, optimizers=["adam"], widths=(4,), batch_size=16, quiet=True)
    entry = summary["optimizers"]["adam"]
    assert entry["epochs"] == PLAN["adam"].epochs
    assert len(entry["test_accuracy_by_epoch"]) == PLAN["adam"].epochs + 1


def test_dataset_options_reach_the_loader(monkeypatch, tmp_path, tiny_data):
    from refimpl.experiments import reproduction
    seen = []
    monkeypatch.setattr(reproduction, "load_dataset",
                        lambda name, directory=None: seen.append((name, directory)) or tiny_data)
    code = main(["reproduce", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "fm"),
                 "--optimizers", "sgd", "--epochs", "1", "--widths", "4", "--batch-size", "16",
                 "--out", str(tmp_path / "out")])
    assert code == 0 and seen == [("fashion-mnist", str(tmp_path / "fm"))]


# -- the output folder is written as a whole ----------------------------------------------------
def _small(tmp_path, **kw):
    from refimpl.experiments import reproduce
    return reproduce(tmp_path, optimizers=["sgd"], epochs=1, widths=(4,), batch_size=16,
                     quiet=True, **kw)


def test_a_used_out_is_refused_then_replaced_whole_with_overwrite(use_tiny_data, tmp_path,
                                                                  capsys):
    out = tmp_path / "cmp"
    from refimpl.experiments import reproduce
    reproduce(out, optimizers=["sgd", "adam"], epochs=1, widths=(4,), batch_size=16,
              quiet=True)
    before = (out / "summary.json").read_text()
    argv = ["reproduce", "--optimizers", "sgd", "--epochs", "1", "--widths", "4",
            "--batch-size", "16", "--out", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "already holds a comparison; pass --overwrite to replace the whole folder" in err
    assert (out / "summary.json").read_text() == before
    assert main(argv + ["--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["sgd"]   # adam is gone
    assert list(json.loads((out / "summary.json").read_text())["optimizers"]) == ["sgd"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp"]            # no staging left


def test_a_folder_that_is_not_a_comparison_is_never_replaced(use_tiny_data, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds files but no summary.json"):
        _small(tmp_path, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_failed_comparison_leaves_the_old_one_and_no_staging_folder(use_tiny_data, tmp_path,
                                                                      monkeypatch):
    from refimpl.experiments import reproduction
    out = tmp_path / "cmp"
    _small(out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(reproduction, "render_report", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _small(out, overwrite=True)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp"]


def test_a_divergence_message_names_the_final_folder(use_tiny_data, tmp_path, monkeypatch):
    from refimpl.experiments import reproduction
    broken = dict(PLAN, sgd=reproduction.Run("SGD", "sgd", {"lr": 1e6}, epochs=3))
    monkeypatch.setattr(reproduction, "PLAN", broken)
    summary = reproduction.reproduce(tmp_path / "cmp", optimizers=["sgd"], widths=(4,),
                                     batch_size=16, quiet=True)
    message = summary["optimizers"]["sgd"]["message"]
    assert f"in {tmp_path / 'cmp' / 'sgd'} (epoch" in message and ".tmp-" not in message


# -- timings: wall and CPU, warm-up kept out, machine load -----------------------------------------
TIMING_KEYS = {"cpu_seconds", "cpu_seconds_per_epoch", "cpu_seconds_per_step", "warmup_seconds",
               "compile_seconds", "other_cores", "other_cores_max"}


def test_summary_and_report_carry_cpu_time_warm_up_and_load(use_tiny_data, tmp_path):
    from refimpl.experiments import reproduce
    summary = reproduce(tmp_path, optimizers=["sgd", "riemannian-identity"], epochs=1,
                        widths=(4,), batch_size=16, quiet=True)
    for entry in summary["optimizers"].values():
        assert TIMING_KEYS <= set(entry)
        assert entry["cpu_seconds"] > 0 and entry["warmup_seconds"] >= entry["compile_seconds"]
        assert entry["warmup_seconds"] > 0
    setup = summary["setup"]
    assert {"cores", "cpu_seconds", "other_cores", "loaded", "compile_seconds"} <= set(setup)
    assert setup["compile_seconds"] == pytest.approx(
        sum(e["compile_seconds"] for e in summary["optimizers"].values()))
    report = (tmp_path / "report.md").read_text()
    assert "| CPU s / epoch |" in report and "process CPU time" in report
    assert "Machine load" in report or "machine was loaded" in report
