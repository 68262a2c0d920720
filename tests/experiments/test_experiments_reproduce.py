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
