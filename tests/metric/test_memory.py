"""Problems too big for a direct solve (math §4, cost of eq. 2): estimates before any large
allocation, a clear error for a direct method that does not fit, and method="auto" taking
conjugate gradients then — saying so."""
import numpy as np
import pytest

from conditioning import metric_condition, solve_tol
from fd import rel_err
from metric_cases import problem
from refimpl import tree
from refimpl.linalg import CG_RTOL
from refimpl.metric import InsufficientMemoryError, LayerMetric, MetricWarning, build_metric
from refimpl.metric.plan import available_memory, choose, estimate
from refimpl.metric import Mass
from refimpl.modules import Block, BlockCost, LinearBlock


def big_block(S=50, r=4, m=6, d=9):
    rng = np.random.default_rng(0)
    return LinearBlock(rng.standard_normal((S, r, m)), rng.standard_normal((S, d)), True)


def test_estimates_scale_as_stated():
    b, mass = big_block(), Mass.parse(1.0, {"W": (6, 9), "b": (6,)})
    q, n = 200, 60
    w, p, c = (estimate([b], [mass], m) for m in ("woodbury", "primal", "cg"))
    assert w.bytes >= q * q * 8 and p.bytes >= n * n * 8
    assert w.flops >= q ** 3 / 3 and p.flops >= n ** 3 / 3
    assert c.bytes < w.bytes and c.flops < w.flops          # one product, not a factorisation


def test_a_direct_method_that_does_not_fit_is_a_clear_error_before_allocating():
    rng, model, params, X, t = problem("mlp_tanh", "mse", S=40)
    with pytest.raises(InsufficientMemoryError, match=r"method='woodbury' needs about .* GB.*"
                                                      r"more than .* available.*method='cg'"):
        build_metric(model, params, X, t, method="woodbury", memory=1e3)
    with pytest.raises(InsufficientMemoryError, match="method='primal'"):
        LayerMetric(big_block(), 1.0, "primal", plan=choose(
            [big_block()], [Mass.parse(1.0, big_block().shapes)], "primal", 1e3))


def test_auto_takes_conjugate_gradients_when_nothing_direct_fits_and_says_so():
    rng, model, params, X, t = problem("mlp_tanh", "cross_entropy", S=40)
    kw = dict(loss="cross_entropy", output_metric="gauss-newton", mass=0.1)
    want, _ = build_metric(model, params, X, t, method="primal", **kw).step(1.0)
    G = build_metric(model, params, X, t, method="primal", **kw).dense()
    with pytest.warns(MetricWarning, match="conjugate gradients"):
        metric = build_metric(model, params, X, t, memory=2e4, **kw)
    got, diag = metric.step(1.0)
    assert set(m.split("/")[0] for m in diag["methods"].values()) == {"cg"}
    assert diag["notes"] and all("GB" in note for note in diag["notes"])
    assert diag["cg_iterations"] >= 1 and diag["residual"] < 1e-8
    # CG to CG_RTOL on K: a forward error of at most κ·CG_RTOL, beside the direct step's own
    kappa = metric_condition(G, 0.1)
    assert rel_err(tree.flatten(got), tree.flatten(want)) < solve_tol(kappa) + kappa * CG_RTOL


class CostedBlock(Block):
    """A block whose cost estimate is given (the choice rule on its own)."""

    def __init__(self, inner_bytes, dense_bytes, inner_flops, dense_flops, matvec_flops=1e9):
        self.S, self.r, self.shapes = 10, 2, {"w": (5,)}
        self._cost = BlockCost(inner_flops, inner_bytes, matvec_flops, 1.0, dense_flops,
                               dense_bytes)

    def cost(self, mass):
        return self._cost


# (woodbury bytes, primal bytes, woodbury flops, primal flops, budget[, CG flops an
# iteration]) -> method, noted?
CHOICES = [
    ((1e3, 1e4, 1e12, 1e13, 1e9, 1e8), "cg", True),     # CG far cheaper even at 200 steps
    ((1e3, 1e4, 1e12, 1e13, 1e9, 1e9), "woodbury", False),   # only 5× cheaper: direct
    ((1e3, 1e4, 1.0, 1e6, 1e9), "woodbury", False),     # cheaper and fits
    ((1e3, 1e4, 1e6, 1.0, 1e9), "primal", False),
    ((1e8, 1e4, 1.0, 1e6, 1e6), "primal", True),        # the cheaper does not fit
    ((1e3, 1e8, 1e6, 1.0, 1e6), "woodbury", True),
    ((1e8, 1e8, 1.0, 1.0, 1e6), "cg", True),            # neither fits
]


@pytest.mark.parametrize("numbers,want,noted", CHOICES)
def test_auto_takes_the_cheaper_direct_method_that_fits(numbers, want, noted):
    wb, pb, wf, pf, budget, *cg = numbers
    block = CostedBlock(wb, pb, wf, pf, *cg)
    plan = choose([block], [Mass.parse(1.0, block.shapes)], "auto", budget)
    assert plan.method == want and bool(plan.note) == noted


def test_available_memory_is_positive_and_can_be_set(monkeypatch):
    assert available_memory() > 0
    monkeypatch.setenv("REFIMPL_MEMORY", "12345")
    assert available_memory() == 12345.0
    monkeypatch.setenv("REFIMPL_MEMORY", "lots")
    with pytest.raises(ValueError, match="REFIMPL_MEMORY"):
        available_memory()
