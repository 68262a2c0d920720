"""Checkpoints: plain ``.npz`` keyed by tree paths, verified on load, written atomically."""
import json

import numpy as np
import pytest

from refimpl.experiments import checkpoint as ckpt
from refimpl.experiments import load_checkpoint, save_checkpoint, train

PARAMS = {"0": {"W": np.arange(6.0).reshape(2, 3), "b": np.ones(2)}}
SLOTS = {"m": {"0": {"W": np.zeros((2, 3)), "b": np.zeros(2)}}}


def test_round_trip_and_plain_npz(tmp_path):
    save_checkpoint(tmp_path, PARAMS, SLOTS, {"step": 3, "note": "x"})
    got = load_checkpoint(tmp_path)
    assert got.meta["step"] == 3 and got.meta["note"] == "x"
    assert np.array_equal(ckpt.fill_tree(PARAMS, got.params, "parameters")["0"]["W"],
                          PARAMS["0"]["W"])
    npz = tmp_path / got.meta["files"]["slots"]["file"]
    with np.load(npz, allow_pickle=False) as z:
        assert sorted(z.files) == ["m/0/W", "m/0/b"]


def test_a_later_save_replaces_the_files(tmp_path):
    save_checkpoint(tmp_path, PARAMS, SLOTS, {"step": 3})
    save_checkpoint(tmp_path, PARAMS, SLOTS, {"step": 6})
    assert load_checkpoint(tmp_path).meta["step"] == 6
    assert len(list(tmp_path.glob("*.npz"))) == 2


@pytest.mark.parametrize("fail_at", ["slots", "metadata"])
@pytest.mark.parametrize("error", [OSError("No space left on device"), KeyboardInterrupt()])
def test_a_failed_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch, fail_at, error):
    save_checkpoint(tmp_path, PARAMS, SLOTS, {"step": 3})
    before = sorted(p.name for p in tmp_path.iterdir())
    real = ckpt._write_atomic

    def failing(target, write):
        if (fail_at == "slots" and target.name.startswith("slots-")) or \
                (fail_at == "metadata" and target.name == ckpt.METADATA):
            def half(f):            # write part of the file, then fail (disk full, Ctrl-C)
                f.write(b"partial")
                raise error
            return real(target, half)
        return real(target, write)

    monkeypatch.setattr(ckpt, "_write_atomic", failing)
    with pytest.raises(type(error)):
        save_checkpoint(tmp_path, {"0": {"W": np.ones((2, 3)), "b": np.ones(2)}}, SLOTS,
                        {"step": 6})
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    got = load_checkpoint(tmp_path)
    assert got.meta["step"] == 3 and np.array_equal(got.params["0/W"], PARAMS["0"]["W"])


def test_a_failed_epoch_end_save_keeps_the_previous_epoch(tmp_path, tiny_data, config,
                                                          monkeypatch):
    train(config(epochs=1), tmp_path, dataset=tiny_data, quiet=True)
    monkeypatch.setattr("refimpl.experiments.training.save_checkpoint",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        train(config(epochs=2), tmp_path, dataset=tiny_data, resume=True, quiet=True)
    assert load_checkpoint(tmp_path).meta["epoch"] == 1


def test_a_corrupt_file_is_a_clear_error(tmp_path):
    save_checkpoint(tmp_path, PARAMS, SLOTS, {"step": 3})
    meta = json.loads((tmp_path / ckpt.METADATA).read_text())
    path = tmp_path / meta["files"]["params"]["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF                    # flip one byte in the middle
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(tmp_path)


def test_a_checkpoint_of_another_model_is_rejected():
    with pytest.raises(ValueError, match="entry '0/W' has shape"):
        ckpt.fill_tree(PARAMS, {"0/W": np.zeros((3, 3)), "0/b": np.zeros(2)}, "parameters")
    with pytest.raises(ValueError, match="need"):
        ckpt.fill_tree(PARAMS, {"0/W": np.zeros((2, 3))}, "parameters")


def _edit(tmp_path, change):
    path = tmp_path / ckpt.METADATA
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta, indent=1))


@pytest.mark.parametrize("change, named", [
    (lambda m: m["config"].__setitem__("lr", 0.5), r"config.lr \(now 0.5\)"),
    (lambda m: m.__setitem__("step", 7), r"step \(now 7\)"),
    (lambda m: m["rng"]["state"].__setitem__("inc", 1), r"rng.state.inc \(now 1\)"),
    (lambda m: m.__setitem__("extra", 1), r"extra \(added\)"),
    (lambda m: m["config"].pop("mass"), r"config.mass \(removed\)"),
    (lambda m: m.pop("digests"), "has no field digests"),
])
def test_an_edited_configuration_or_state_is_refused(tmp_path, change, named):
    meta = {"step": 3, "config": {"lr": 1.0, "mass": 0.01, "widths": [4]},
            "rng": {"state": {"state": 2 ** 100, "inc": 3}}}
    save_checkpoint(tmp_path, PARAMS, SLOTS, meta)
    assert load_checkpoint(tmp_path).meta["config"] == meta["config"]
    _edit(tmp_path, change)
    with pytest.raises(ValueError, match=named):
        load_checkpoint(tmp_path)


def test_reformatting_the_json_is_not_an_edit(tmp_path):
    save_checkpoint(tmp_path, PARAMS, SLOTS, {"step": 3, "config": {"lr": 1.0}})
    _edit(tmp_path, lambda m: None)                  # other indentation, same values
    assert load_checkpoint(tmp_path).meta["config"] == {"lr": 1.0}


def test_a_checkpoint_of_the_previous_format_is_refused_clearly(tmp_path):
    save_checkpoint(tmp_path, PARAMS, SLOTS, {"step": 3})
    _edit(tmp_path, lambda m: m.__setitem__("format", "refimpl-checkpoint/1"))
    with pytest.raises(ValueError, match="unknown checkpoint format 'refimpl-checkpoint/1'.*"
                                         "start afresh with --overwrite"):
        load_checkpoint(tmp_path)


def test_fill_tree_keeps_each_leafs_float_type_whatever_its_value():
    """A 0-d float64 leaf (a damping μ) stays float64 exactly; NumPy 1.x's value-based casting
    of ``result_type(leaf, float32)`` would round it to float32."""
    template = {"mu": np.array(0.1), "w": np.zeros(3, np.float32), "v": np.zeros(2)}
    mu = 0.1 + 2.0 ** -40                       # not representable in float32
    flat = {"mu": np.array(mu), "w": np.array([1.0, 2.0, 3.0]), "v": np.array([mu, -mu])}
    got = ckpt.fill_tree(template, flat, "slots")
    assert got["mu"].dtype == np.float64 and float(got["mu"]) == mu
    assert got["w"].dtype == np.float32 and got["v"].dtype == np.float64
    assert np.array_equal(got["v"], [mu, -mu])
