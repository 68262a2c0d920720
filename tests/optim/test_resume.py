"""Optimizers with state in their slots resume bit for bit through a checkpoint on disk."""
import numpy as np
import pytest

from refimpl import tree
from refimpl.experiments.checkpoint import fill_tree, load_checkpoint, save_checkpoint
from refimpl.modules import mlp
from refimpl.optim import make_optimizer

CASES = {
    "kfac-factored": ("kfac", dict(lr=0.3, inverse_period=3)),
    "kfac-exact-adaptive": ("kfac", dict(lr=0.3, inverse_period=2, damping_form="exact",
                                         damping_rule="adaptive-reject")),
    "riemannian-adaptive": ("riemannian", dict(lr=1.0, mass=0.01, output_metric="gauss-newton",
                                               damping="adaptive-reject")),
    "gauss-newton-adaptive": ("gauss-newton", dict(lr=1.0, mass=0.01, damping="adaptive")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_resume_through_a_checkpoint_is_bit_for_bit(tmp_path, case):
    name, kw = CASES[case]
    rng = np.random.default_rng(6)
    model = mlp([5, 6, 3], "tanh")
    params = model.init(rng)
    batches = [(rng.standard_normal((8, 5)), rng.integers(0, 3, 8)) for _ in range(7)]
    opt = make_optimizer(name, model, "cross_entropy", **kw)
    straight = opt.init(params)
    for X, t in batches:
        straight, _ = opt.update(straight, X, t)
    state = opt.init(params)
    for X, t in batches[:3]:
        state, _ = opt.update(state, X, t)
    save_checkpoint(tmp_path, state.params, state.slots, {"step": state.step})
    ck = load_checkpoint(tmp_path)
    template = make_optimizer(name, model, "cross_entropy", **kw).init(params)
    state = template._replace(step=3, params=fill_tree(template.params, ck.params, "p"),
                              slots=fill_tree(template.slots, ck.slots, "s"))
    for X, t in batches[3:]:
        state, _ = opt.update(state, X, t)
    assert tree.same_structure(straight.slots, state.slots)
    for a, b in zip(tree.leaves(straight.params) + tree.leaves(straight.slots),
                    tree.leaves(state.params) + tree.leaves(state.slots)):
        assert np.array_equal(a, b)
