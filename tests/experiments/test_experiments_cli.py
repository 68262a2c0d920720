"""``refimpl train`` / ``data fetch`` through the dispatcher: errors are one line, no traceback."""
import json
import subprocess
import sys

import pytest

from refimpl.cli import main
from refimpl.experiments import load_checkpoint
from refimpl.optim import SGD


def _one_line_error(capsys, code, *expected):
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    for text in expected:
        assert text in err
    return err


@pytest.mark.parametrize("argv, expected", [
    (["train", "--optimizer", "sgd", "--mass", "1"], "mass applies to the optimizers"),
    (["train", "--optimizer", "adam", "--output-damping", "0.3"], "output_damping applies"),
    (["train", "--dataset", "mnist", "--data-dir", "/nonexistent/mnist"],
     "does not exist; download it with `refimpl data fetch mnist`"),
    (["train", "--dataset", "mnist", "--data-dir", "/nonexistent/mnist"],
     "or give its folder (--data-dir DIR; directory= in Python)"),
    (["data", "fetch", "mnist-6k"], "unknown data set 'mnist-6k'"),
])
def test_errors_exit_1_with_one_line(argv, expected, capsys, tmp_path):
    code = main(argv + (["--out", str(tmp_path)] if argv[0] == "train" else []))
    err = _one_line_error(capsys, code, expected)
    assert code == 1 and err.count("\n") == 1


def test_bad_option_syntax_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--widths", "256,x"])
    _one_line_error(capsys, info.value.code, "comma-separated positive integers")


def test_subprocess_error_has_no_traceback(tmp_path):
    run = subprocess.run([sys.executable, "-m", "refimpl.cli", "train", "--optimizer", "sgd",
                          "--mass", "1", "--out", str(tmp_path)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr and "mass applies to the optimizers" in run.stderr


def test_train_then_resume(use_tiny_data, tmp_path, capsys):
    out = str(tmp_path / "run")
    common = ["train", "--optimizer", "adam", "--widths", "4", "--batch-size", "16",
              "--out", out]
    assert main(common + ["--epochs", "1"]) == 0
    assert main(["train", "--resume", "--out", out, "--epochs", "2"]) == 0
    assert load_checkpoint(out).meta["epoch"] == 2
    assert "test accuracy" in capsys.readouterr().out
    # Resuming with another learning rate is refused; a fresh run over a run too.
    _one_line_error(capsys, main(["train", "--resume", "--out", out, "--lr", "0.5"]),
                    "another configuration")
    _one_line_error(capsys, main(common), "already holds a training run; pass --resume to "
                    "continue it, --overwrite to start afresh")
    steps = [json.loads(line)["step"] for line in open(tmp_path / "run" / "steps.jsonl")]
    assert steps == list(range(1, 7))


def test_ctrl_c_exits_130(use_tiny_data, tmp_path, monkeypatch, capsys):
    def interrupted(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(SGD, "_direction", interrupted)
    code = main(["train", "--optimizer", "sgd", "--widths", "4", "--out", str(tmp_path)])
    assert code == 130
    _one_line_error(capsys, code, "interrupted", "continue with --resume")
    assert load_checkpoint(tmp_path).meta["epoch"] == 0


def test_divergence_exits_1(use_tiny_data, tmp_path, capsys):
    code = main(["train", "--optimizer", "sgd", "--lr", "1e6", "--widths", "4",
                 "--epochs", "3", "--out", str(tmp_path)])
    _one_line_error(capsys, code, "last good checkpoint")
    assert code == 1


def test_data_fetch_shows_progress_and_uses_the_default_folder(monkeypatch, tmp_path, capsys):
    import refimpl.data
    calls = {}

    def fake_fetch(name, directory, *, base_url=None, progress=None, timeout=60):
        calls.update(name=name, directory=directory)
        for done in (0, 5, 10):
            progress("train-images-idx3-ubyte.gz", done, 10)
        return [directory / "train-images-idx3-ubyte.gz"]

    monkeypatch.setattr(refimpl.data, "fetch", fake_fetch)
    monkeypatch.setattr(refimpl.data, "default_directory", lambda name: tmp_path / name)
    assert main(["data", "fetch", "mnist"]) == 0
    assert calls == {"name": "mnist", "directory": tmp_path / "mnist"}
    assert "1 verified files in" in capsys.readouterr().out


def test_train_prints_wall_cpu_and_warm_up_times(use_tiny_data, tmp_path, capsys):
    assert main(["train", "--optimizer", "riemannian", "--widths", "4", "--batch-size", "16",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "s training (" in out and "s CPU; warm-up" in out and "one-off compilation" in out


def test_an_edited_checkpoint_is_refused_on_resume(use_tiny_data, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "--optimizer", "sgd", "--widths", "4", "--batch-size", "16",
                 "--out", out]) == 0
    path = tmp_path / "run" / "checkpoint.json"
    meta = json.loads(path.read_text())
    meta["config"]["lr"] = 0.5
    path.write_text(json.dumps(meta, indent=1))
    code = main(["train", "--resume", "--out", out, "--epochs", "2"])
    _one_line_error(capsys, code, "checkpoint.json was edited after it was saved: config.lr "
                    "(now 0.5)", "start a new run (--overwrite, or another --out)")
    assert code == 1
