"""Divergence and Ctrl-C stop the run and keep the last good checkpoint."""
import numpy as np
import pytest

from refimpl import tree
from refimpl.experiments import load_checkpoint, train
from refimpl.optim import SGD, DivergenceError


def _break_sgd_from_step(monkeypatch, step, change):
    """From optimizer step ``step`` on, SGD's diagnostics go through ``change`` (inside
    ``update``, before its finiteness checks)."""
    real = SGD._direction

    def direction(self, state, X, targets):
        update, slots, info = real(self, state, X, targets)
        return update, slots, change(info) if state.step >= step else info

    monkeypatch.setattr(SGD, "_direction", direction)


def nan_loss(info):
    return dict(info, loss=np.nan)


def huge_loss(info):
    return dict(info, loss=1e9)


def ctrl_c(info):
    raise KeyboardInterrupt


@pytest.mark.parametrize("change, match", [(nan_loss, "the loss is nan"),
                                           (huge_loss, r"the loss exploded to 1e\+09")])
def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path, tiny_data, config,
                                                             monkeypatch, change, match):
    good = train(config(epochs=1), tmp_path / "good", dataset=tiny_data, quiet=True)
    _break_sgd_from_step(monkeypatch, 4, change)        # step 4 is in epoch 2
    with pytest.raises(DivergenceError, match=match) as info:
        train(config(epochs=3), tmp_path / "run", dataset=tiny_data, quiet=True)
    assert "last good checkpoint" in str(info.value) and "epoch 1, step 3" in str(info.value)
    kept = load_checkpoint(tmp_path / "run")
    assert kept.meta["epoch"] == 1
    assert all(np.array_equal(kept.params[p], leaf) for p, leaf in tree.items(good.params))


def test_ctrl_c_keeps_the_last_good_checkpoint_and_resume_finishes_the_run(
        tmp_path, tiny_data, config, monkeypatch, capsys):
    straight = train(config(epochs=3), tmp_path / "straight", dataset=tiny_data, quiet=True)
    with monkeypatch.context() as m:
        _break_sgd_from_step(m, 7, ctrl_c)              # step 7 is in epoch 3
        with pytest.raises(KeyboardInterrupt):
            train(config(epochs=3), tmp_path / "run", dataset=tiny_data, quiet=True)
    assert "continue with --resume" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "run").meta["epoch"] == 2
    resumed = train(config(epochs=3), tmp_path / "run", dataset=tiny_data, resume=True,
                    quiet=True)
    assert all(np.array_equal(a, b) for a, b in zip(tree.leaves(straight.params),
                                                    tree.leaves(resumed.params)))


def test_a_real_divergence_is_caught(tmp_path, tiny_data, config):
    with pytest.raises(DivergenceError, match="Lower the learning rate"):
        train(config(epochs=3, lr=1e6), tmp_path, dataset=tiny_data, quiet=True)
    assert load_checkpoint(tmp_path).meta["epoch"] >= 0
