"""Resuming from a checkpoint gives bit-for-bit the run an uninterrupted one gives."""
import numpy as np
import pytest
from experiment_cases import OPTIMIZERS, make_tiny_dataset

from refimpl import tree
from refimpl.experiments import load_checkpoint, train
from refimpl.experiments.metrics_log import read_records


def _same_trees(a, b):
    return tree.same_structure(a, b) and all(
        np.array_equal(x, y) for x, y in zip(tree.leaves(a), tree.leaves(b)))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_resume_equals_uninterrupted(tmp_path, tiny_data, config, optimizer):
    straight = train(config(optimizer, epochs=2), tmp_path / "a", dataset=tiny_data, quiet=True)
    train(config(optimizer, epochs=1), tmp_path / "b", dataset=tiny_data, quiet=True)
    resumed = train(config(optimizer, epochs=2), tmp_path / "b", dataset=tiny_data,
                    resume=True, quiet=True)
    assert _same_trees(straight.params, resumed.params)
    assert _same_trees(straight.state.slots, resumed.state.slots)
    assert straight.state.step == resumed.state.step == 6
    losses = [[r["loss"] for r in read_records(d / "steps.jsonl")] for d in
              (tmp_path / "a", tmp_path / "b")]
    assert losses[0] == losses[1]


def test_resumed_metrics_have_each_step_once(tmp_path, tiny_data, config):
    train(config(epochs=1), tmp_path, dataset=tiny_data, quiet=True)
    # Lines a crashed second epoch left behind (and a half-written one) must go on resume.
    with open(tmp_path / "steps.jsonl", "a") as f:
        f.write('{"step": 4, "epoch": 2, "loss": 9.0, "time": 1.0}\n{"step": 5, "ep')
    train(config(epochs=3), tmp_path, dataset=tiny_data, resume=True, quiet=True)
    steps = [r["step"] for r in read_records(tmp_path / "steps.jsonl")]
    epochs = [r["epoch"] for r in read_records(tmp_path / "epochs.jsonl")]
    assert steps == list(range(1, 10))
    assert epochs == [0, 1, 2, 3]


def test_resume_keeps_the_saved_configuration(tmp_path, tiny_data, config):
    train(config(epochs=1), tmp_path, dataset=tiny_data, quiet=True)
    with pytest.raises(ValueError, match="lr: 0.5 given"):
        train(config(epochs=2, lr=0.5), tmp_path, dataset=tiny_data, resume=True, quiet=True)
    assert load_checkpoint(tmp_path).meta["epoch"] == 1


def test_a_second_fresh_run_does_not_clobber_the_first(tmp_path, tiny_data, config):
    train(config(epochs=1), tmp_path, dataset=tiny_data, quiet=True)
    with pytest.raises(ValueError, match="already holds a training run"):
        train(config(epochs=1), tmp_path, dataset=tiny_data, quiet=True)


def test_resume_without_checkpoint_is_an_error(tmp_path, tiny_data, config):
    with pytest.raises(ValueError, match="no checkpoint"):
        train(config(), tmp_path, dataset=tiny_data, resume=True, quiet=True)


@pytest.mark.parametrize("drop_last, steps", [(True, 3), (False, 4)])
def test_drop_last_skips_the_short_batch(tmp_path, config, drop_last, steps):
    data = make_tiny_dataset(n_train=50)                 # 3 batches of 16 and one of 2
    result = train(config(epochs=1, drop_last=drop_last), tmp_path, dataset=data, quiet=True)
    assert result.state.step == steps


@pytest.mark.parametrize("optimizer", ["adam", "riemannian"])
def test_warm_up_steps_leave_the_run_unchanged(tmp_path, tiny_data, config, optimizer,
                                               monkeypatch):
    from refimpl.experiments.training import _Run
    warm = train(config(optimizer, epochs=1), tmp_path / "a", dataset=tiny_data, quiet=True)
    monkeypatch.setattr(_Run, "_warm_up", lambda self: (0.0, 0.0))
    cold = train(config(optimizer, epochs=1), tmp_path / "b", dataset=tiny_data, quiet=True)
    assert _same_trees(warm.params, cold.params) and _same_trees(warm.state.slots,
                                                                 cold.state.slots)
    assert warm.warmup_seconds > 0 and cold.warmup_seconds == 0


def test_metrics_record_cpu_time_warm_up_and_load(tmp_path, tiny_data, config):
    train(config("riemannian", epochs=2), tmp_path, dataset=tiny_data, quiet=True)
    resumed = train(config("riemannian", epochs=3), tmp_path, dataset=tiny_data, resume=True,
                    quiet=True)
    steps = read_records(tmp_path / "steps.jsonl")
    epochs = read_records(tmp_path / "epochs.jsonl")
    cpu = [s["cpu_time"] for s in steps]
    assert all(b > a for a, b in zip(cpu, cpu[1:]))               # cumulative, across resume
    assert all(s["time"] > 0 for s in steps)
    for e in epochs:
        assert {"seconds", "cpu_seconds", "time", "cpu_time", "other_cores",
                "warmup_seconds", "compile_seconds"} <= set(e)
    assert [e["warmup_seconds"] > 0 for e in epochs] == [False, True, False, True]
    assert epochs[-1]["cpu_time"] == pytest.approx(sum(e["cpu_seconds"] for e in epochs))
    assert epochs[3]["warmup_seconds"] == resumed.warmup_seconds >= resumed.compile_seconds
    assert all(e["other_cores"] is None or e["other_cores"] >= 0 for e in epochs[1:])
