"""The ``refimpl`` dispatcher: OS errors become sentences, option values are checked with the
option's name, every command checks its output path before any work, every --help text
gives each option's default or choices."""
import argparse
import errno
import os
import subprocess
import sys

import pytest

from refimpl import cli


def _subcommands(parser, prefix=()):
    """``(command words, parser)`` for every (sub)command parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from _subcommands(sub, (*prefix, name))


def test_every_option_help_gives_its_default_or_choices():
    missing = []
    for words, sub in _subcommands(cli.build_parser()):
        for action in sub._actions:
            if not action.option_strings or action.nargs == 0 or action.help is None:
                continue                   # positionals, flags, --help
            if action.help == argparse.SUPPRESS:
                continue
            if "default" not in action.help.lower():
                missing.append(f"{' '.join(words)} {action.option_strings[0]}")
    assert missing == []


def test_activation_lists_its_choices_and_stability_d_its_default():
    parser = cli.build_parser()
    train = dict(_subcommands(parser))[("train",)]
    assert "{identity,tanh,sigmoid" in train.format_help()
    stability = dict(_subcommands(parser))[("stability",)].format_help()
    assert "input dimension (default: 256 for linear, 16 for mlp)" in " ".join(stability.split())


# -- OS errors as sentences -------------------------------------------------------------------
def _real_error(action):
    try:
        action()
    except OSError as exc:
        return exc
    raise AssertionError("no error")


def test_os_errors_become_sentences_that_say_what_to_do(tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    cases = [
        (lambda: os.mkdir(file), errno.EEXIST, "already exists"),
        (lambda: open(file / "child", "w"), errno.ENOTDIR, "part of this path is a file"),
        (lambda: open(tmp_path, "rb"), errno.EISDIR, "is a folder where a file is needed"),
        (lambda: open(tmp_path / "nope"), errno.ENOENT, "does not exist"),
    ]
    for action, code, text in cases:
        exc = _real_error(action)
        assert exc.errno == code
        message = cli.os_error_message(exc)
        assert text in message and str(exc.filename) in message and "Errno" not in message
    assert "no space left on the device holding /x" in cli.os_error_message(
        OSError(errno.ENOSPC, "No space left on device", "/x"))
    assert "choose a path you can write to" in cli.os_error_message(
        PermissionError(errno.EACCES, "Permission denied", "/x"))
    assert cli.os_error_message(OSError("our own sentence")) == "our own sentence"


def test_an_os_error_inside_a_command_is_one_sentence(tmp_path, monkeypatch, capsys):
    from refimpl.experiments import _cli as experiments_cli
    file = tmp_path / "file"
    file.write_text("x")
    monkeypatch.setattr(experiments_cli, "_train", lambda args: os.mkdir(file))
    assert cli.main(["train", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err == (f"refimpl train: error: {file} already exists (a file where a folder is "
                   "needed, or a folder in the way); choose another path or remove it\n")


@pytest.mark.parametrize("error, words", [
    ("insufficient", "method='cg'"), ("convergence", "did not reach"),
    ("memory", "out of memory; use a smaller batch")])
def test_solver_and_memory_errors_are_one_line(error, words, tmp_path, monkeypatch, capsys):
    from refimpl.experiments import _cli as experiments_cli
    from refimpl.linalg import ConvergenceError
    from refimpl.metric import InsufficientMemoryError
    exc = {"insufficient": InsufficientMemoryError("module '0': method='woodbury' needs about "
                                                   "9 GB; use method='cg'"),
           "convergence": ConvergenceError("conjugate gradients did not reach 1e-10"),
           "memory": MemoryError("Unable to allocate 25.0 GiB")}[error]

    def fail(args):
        raise exc
    monkeypatch.setattr(experiments_cli, "_train", fail)
    assert cli.main(["train", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("refimpl train: error: ") and words in err and err.count("\n") == 1


# -- option values ------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["train", "--lr", "-1"], "argument --lr: must be a finite number > 0, got '-1'"),
    (["train", "--mass", "nan"], "argument --mass: must be a finite number > 0"),
    (["train", "--output-damping", "-0.1"],
     "argument --output-damping: must be a finite number >= 0, got '-0.1'"),
    (["train", "--batch-size", "0"], "argument --batch-size: must be a positive integer"),
    (["train", "--seed", "-2"], "argument --seed: must be a non-negative integer"),
    (["reproduce", "--epochs", "1.5"], "argument --epochs: must be a positive integer"),
    (["stability", "--n-times", "1"], "argument --n-times: must be an integer >= 2"),
    (["stability", "--noise", "-0.1"], "argument --noise: must be a finite number >= 0"),
    (["train", "--activation", "swish"], "argument --activation: invalid choice: 'swish'"),
])
def test_bad_option_values_name_the_option(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err and "Traceback" not in err


# -- output paths are checked before any work ---------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["train", "--optimizer", "sgd", "--out", "{file}"],
    ["reproduce", "--optimizers", "sgd", "--out", "{file}"],
    ["stability", "--out", "{file}"],
    ["oracle", "export", "--only", "two_branch", "--out", "{file}"],
    ["data", "fetch", "mnist", "--data-dir", "{file}"],
])
def test_an_output_path_that_is_a_file_fails_before_any_work(argv, tmp_path, monkeypatch,
                                                             capsys):
    import refimpl.data
    import refimpl.experiments.reproduction
    import refimpl.experiments.training

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the output path was checked")

    for module, name in ((refimpl.experiments.training, "load_dataset"),
                         (refimpl.experiments.reproduction, "load_dataset"),
                         (refimpl.data, "fetch")):
        monkeypatch.setattr(module, name, no_work)
    monkeypatch.setattr("refimpl.experiments.stability.run_stability", no_work)
    monkeypatch.setattr("refimpl.oracle.golden.build_case", no_work)
    file = tmp_path / "file"
    file.write_text("mine")
    assert cli.main([a.format(file=file) for a in argv]) == 1
    err = capsys.readouterr().err
    assert f"{file} is a file, not a folder; choose another" in err and err.count("\n") == 1
    assert file.read_text() == "mine"


def test_an_output_path_below_a_file_fails_before_any_work(tmp_path, capsys):
    file = tmp_path / "file"
    file.write_text("mine")
    assert cli.main(["train", "--out", str(file / "run")]) == 1
    assert f"cannot be created: {file} is a file, not a folder" in capsys.readouterr().err


def test_stability_into_a_file_fails_at_once_without_traceback(tmp_path):
    file = tmp_path / "out.json"
    file.write_text("{}")
    run = subprocess.run([sys.executable, "-m", "refimpl.cli", "stability", "--out", str(file)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == (f"refimpl stability: error: --out {file} is a file, not a folder; "
                          "choose another --out or remove the file\n")
