"""One block's metric G = M + B̃ᵀB̃ (math §4): Woodbury (2) and push-through (3′) against a
dense solve, for every Gram-matrix formula (scalar, Kronecker and general diagonal mass,
generic), with vectors outside the span of B̃ᵀ."""
import numpy as np
import pytest

from conditioning import metric_condition, solve_tol
from fd import rel_err
from refimpl import tree
from refimpl.metric import LayerMetric
from refimpl.modules import DenseBlock, LinearBlock

def linear_block(rng, S=4, r=3, m=5, n=6, bias=True):
    return LinearBlock(rng.standard_normal((S, r, m)), rng.standard_normal((S, n)), bias)


MASSES = {  # name: build(rng, shapes) -> mass
    "scalar": lambda rng, shapes: 0.7,
    "kron": lambda rng, shapes: {"W": np.outer(rng.uniform(0.2, 2, shapes["W"][0]),
                                               rng.uniform(0.2, 2, shapes["W"][1])),
                                 **({"b": rng.uniform(0.2, 2, shapes["b"])} if "b" in shapes
                                    else {})},
    "diag": lambda rng, shapes: {k: rng.uniform(0.05, 3, s) for k, s in shapes.items()},
}
BLOCKS = {  # name: build(rng) -> block, expected Woodbury path for each mass kind
    "linear": (lambda rng: linear_block(rng), {"scalar": "linear-scalar", "kron": "linear-kron",
                                                "diag": "linear-diag"}),
    "linear_nobias": (lambda rng: linear_block(rng, bias=False),
                      {"scalar": "linear-scalar", "kron": "linear-kron", "diag": "linear-diag"}),
    "generic": (lambda rng: DenseBlock(rng.standard_normal((4, 3, 7)), {"w": (7,)}),
                {"scalar": "generic", "diag": "generic"}),
    # the same factor rows for every sample (last layer, identity output metric)
    "linear_shared": (lambda rng: LinearBlock(np.repeat(rng.standard_normal((1, 3, 5)), 4, 0),
                                              rng.standard_normal((4, 6)), True),
                      {"scalar": "linear-shared-factor", "kron": "linear-kron",
                       "diag": "linear-diag"}),
    # one output row: every M_W (1 × n) is rank one, so the Kronecker formula applies
    "wide_r1": (lambda rng: linear_block(rng, S=1, r=1, m=1, n=9), {"scalar": "linear-scalar",
                                                                     "diag": "linear-kron"}),
}
CASES = [(b, m, meth) for b, (_, paths) in BLOCKS.items() for m in paths
         for meth in ("woodbury", "primal")]


def dense_G(block, mass):
    B = block.materialize().reshape(block.S * block.r, block.n)
    m = tree.flatten(mass) if isinstance(mass, dict) else np.full(block.n, mass)
    return np.diag(m) + B.T @ B / block.S


def tol(block, mass):
    """solve_tol of the case's conditioning (G's, and K's for the Woodbury forms)."""
    return solve_tol(metric_condition(dense_G(block, mass), mass))


def make_case(bname, mname, method, seed=0):
    rng = np.random.default_rng(seed)
    block = BLOCKS[bname][0](rng)
    mass = MASSES[mname](rng, block.shapes)
    return rng, block, mass, LayerMetric(block, mass, method)


@pytest.mark.parametrize("bname,mname,method", CASES)
def test_solve_matches_dense_solve_out_of_span(bname, mname, method):
    rng, block, mass, G = make_case(bname, mname, method)
    v = {k: rng.standard_normal(s) for k, s in block.shapes.items()}
    B = block.materialize().reshape(block.S * block.r, block.n)
    v_flat = tree.flatten(v)
    assert np.linalg.norm(v_flat - np.linalg.pinv(B) @ (B @ v_flat)) > 0.1 * np.linalg.norm(v_flat) \
        or block.n <= block.S * block.r      # v has a component outside span(B̃ᵀ)
    want = np.linalg.solve(dense_G(block, mass), v_flat)
    assert rel_err(tree.flatten(G.solve(v)), want) < tol(block, mass)
    if method == "woodbury":
        assert G.formula == BLOCKS[bname][1][mname]


@pytest.mark.parametrize("bname,mname,method", CASES)
def test_push_through_equals_solve_of_the_gradient(bname, mname, method):
    rng, block, mass, G = make_case(bname, mname, method, seed=1)
    c = rng.standard_normal((block.S, block.r))
    grad = tree.tree_map(lambda x: x / block.S, block.apply_T(c))     # B̃ᵀ c̃
    assert rel_err(tree.flatten(G.push_through(c)), tree.flatten(G.solve(grad))) < \
        tol(block, mass)


@pytest.mark.parametrize("bname,mname,method", CASES)
def test_matvec_and_dense_match_the_explicit_matrix(bname, mname, method):
    rng, block, mass, G = make_case(bname, mname, method, seed=2)
    v = {k: rng.standard_normal(s) for k, s in block.shapes.items()}
    D = dense_G(block, mass)
    assert rel_err(tree.flatten(G.matvec(v)), D @ tree.flatten(v)) < 1e-13
    assert rel_err(G.dense(), D) < 1e-14


@pytest.mark.parametrize("bname", list(BLOCKS))
def test_block_apply_and_apply_T_are_adjoint_and_match_materialised(bname):
    rng = np.random.default_rng(3)
    block = BLOCKS[bname][0](rng)
    v = {k: rng.standard_normal(s) for k, s in block.shapes.items()}
    C = rng.standard_normal((block.S, block.r))
    Bm = block.materialize()
    assert rel_err(block.apply(v), np.einsum("srn,n->sr", Bm, tree.flatten(v))) < 1e-13
    lhs, rhs = np.vdot(C, block.apply(v)), tree.vdot(block.apply_T(C), v)
    assert abs(lhs - rhs) <= 1e-12 * (abs(lhs) + 1)


def test_auto_chooses_the_cheaper_factorisation():
    rng = np.random.default_rng(4)
    wide = LayerMetric(linear_block(rng, S=2, r=1, m=8, n=30), 1.0)      # n = 248 ≫ S·r = 2
    tall = LayerMetric(linear_block(rng, S=40, r=5, m=2, n=1), 1.0)      # n = 4 ≪ S·r = 200
    assert (wide.method, wide.inner_size) == ("woodbury", 2)
    assert (tall.method, tall.inner_size) == ("primal", 4)


def test_hand_checkable_case_k1_s1():
    """k = 1, S = 1, no bias, scalar mass: G = μI + R² a aᵀ, so by Sherman–Morrison
    G⁻¹ v = (v − R² a (aᵀv) / (μ + R²|a|²)) / μ."""
    R, a, mu = 2.0, np.array([1.0, -2.0, 0.5]), 0.3
    block = LinearBlock(np.array([[[R]]]), a[None, :], bias=False)
    v = np.array([0.2, 1.0, -3.0])
    want = (v - R * R * a * (a @ v) / (mu + R * R * (a @ a))) / mu
    got = LayerMetric(block, mu, "woodbury").solve({"W": v[None, :]})["W"][0]
    G = mu * np.eye(3) + R * R * np.outer(a, a)                       # cond(G) = 71
    assert rel_err(got, want) < solve_tol(metric_condition(G, mu))


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown method 'qr'"):
        LayerMetric(linear_block(np.random.default_rng(0)), 1.0, "qr")
