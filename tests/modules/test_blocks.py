"""The block protocol (refimpl.modules.blocks; math §4): every block's structured operations
against its own materialised B̃ — the products, the inner matrix I + s·B M⁻¹ Bᵀ in both float
types, its matrix-free product, its Kronecker form, the per-sample Grams — under every kind
of mass; and the materialising defaults of a block given only by apply/apply_T."""
import numpy as np
import pytest

from fd import rel_err
from refimpl import tree
from refimpl.metric import Mass
from refimpl.modules import Block, BlockCost, ConvBlock, DenseBlock, LinearBlock
from scale_atom import ScaleBlock


def linear(rng, S=4, r=3, m=5, n=6, bias=True):
    return LinearBlock(rng.standard_normal((S, r, m)), rng.standard_normal((S, n)), bias)


def conv(rng, S=4, r=3, c_out=2, c_in=2, k=2, P=9, bias=True):
    """A Conv2d block from random factors ``(S, r, C_out, P)`` and patches ``(K, S, P)``."""
    return ConvBlock(rng.standard_normal((S, r, c_out, P)),
                     rng.standard_normal((c_in * k * k, S, P)), (c_out, c_in, k, k), bias)


BLOCKS = {  # name: build(rng) -> block; formula under each mass kind
    "linear": (linear, {"scalar": "linear-scalar", "kron": "linear-kron",
                        "diag": "linear-diag"}),
    "linear_nobias": (lambda rng: linear(rng, bias=False),
                      {"scalar": "linear-scalar", "kron": "linear-kron", "diag": "linear-diag"}),
    "linear_shared": (lambda rng: LinearBlock(np.repeat(rng.standard_normal((1, 3, 5)), 4, 0),
                                              rng.standard_normal((4, 6)), True),
                      {"scalar": "linear-shared-factor", "kron": "linear-kron",
                       "diag": "linear-diag"}),
    "linear_many_samples": (lambda rng: linear(rng, S=20, r=2, m=3, n=4),    # S > 2n: the
                            {"scalar": "linear-scalar", "diag": "linear-diag"}),  # product via w
    "conv": (conv, {"scalar": "conv-materialise", "diag": "conv-materialise"}),
    "conv_few_positions": (lambda rng: conv(rng, c_out=4, c_in=3, k=3, P=1, bias=False),
                           {"scalar": "conv-positions", "diag": "conv-materialise"}),
    "dense": (lambda rng: DenseBlock(rng.standard_normal((4, 3, 7)), {"w": (7,)}),
              {"scalar": "generic", "diag": "generic"}),
    "matrix_free": (lambda rng: ScaleBlock(rng.standard_normal((4, 3, 5)),
                                           rng.standard_normal((4, 5))),
                    {"scalar": "generic", "diag": "generic"}),
}
MASSES = {  # name: build(rng, shapes) -> mass as given
    "scalar": lambda rng, shapes: 0.7,
    "kron": lambda rng, shapes: {"W": np.outer(rng.uniform(0.2, 2, shapes["W"][0]),
                                               rng.uniform(0.2, 2, shapes["W"][1])),
                                 **({"b": rng.uniform(0.2, 2, shapes["b"])} if "b" in shapes
                                    else {})},
    "diag": lambda rng, shapes: {k: rng.uniform(0.05, 3, s) for k, s in shapes.items()},
}
CASES = [(b, m) for b, (_, formulas) in BLOCKS.items() for m in formulas]


def make_case(bname, mname, seed=0):
    rng = np.random.default_rng(seed)
    block = BLOCKS[bname][0](rng)
    return rng, block, Mass.parse(MASSES[mname](rng, block.shapes), block.shapes)


def dense_inner(block, mass, scale):
    B = block.materialize().reshape(block.S * block.r, block.n)
    return np.eye(B.shape[0]) + scale * (B * mass.flat_inverse(block.shapes)) @ B.T


@pytest.mark.parametrize("bname", list(BLOCKS))
def test_apply_and_apply_T_are_adjoint_and_match_materialised(bname):
    rng, block, _ = make_case(bname, "scalar", seed=3)
    v = {k: rng.standard_normal(s) for k, s in block.shapes.items()}
    C = rng.standard_normal((block.S, block.r))
    Bm = block.materialize()
    assert Bm.shape == (block.S, block.r, block.n)
    assert rel_err(block.apply(v), np.einsum("srn,n->sr", Bm, tree.flatten(v))) < 1e-13
    assert rel_err(tree.flatten(block.apply_T(C)), np.einsum("srn,sr->n", Bm, C)) < 1e-13
    lhs, rhs = np.vdot(C, block.apply(v)), tree.vdot(block.apply_T(C), v)
    assert abs(lhs - rhs) <= 1e-12 * (abs(lhs) + 1)


@pytest.mark.parametrize("bname,mname", CASES)
def test_inner_matrix_lower_triangle_in_both_float_types(bname, mname):
    rng, block, mass = make_case(bname, mname)
    want = dense_inner(block, mass, 0.25)
    low = np.tril_indices(block.S * block.r)
    assert rel_err(block.inner_matrix(mass, 0.25)[low], want[low]) < 1e-13
    got32 = block.inner_matrix(mass, 0.25, np.float32)
    assert got32.dtype == np.float32 and rel_err(got32[low], want[low]) < 1e-5
    assert block.formula(mass) == BLOCKS[bname][1][mname]


@pytest.mark.parametrize("bname,mname", CASES)
def test_inner_matvec_is_the_product_with_the_inner_matrix(bname, mname):
    rng, block, mass = make_case(bname, mname, seed=1)
    x = rng.standard_normal((block.S * block.r, 2))
    assert rel_err(block.inner_matvec(mass, 0.4)(x), dense_inner(block, mass, 0.4) @ x) < 1e-13


@pytest.mark.parametrize("bname,mname", CASES)
def test_kronecker_form_and_sample_grams(bname, mname):
    rng, block, mass = make_case(bname, mname, seed=2)
    P = dense_inner(block, mass, 1.0) - np.eye(block.S * block.r)
    kron = block.inner_kronecker(mass)
    assert (kron is not None) == (BLOCKS[bname][1][mname] == "linear-shared-factor")
    if kron is not None:
        assert rel_err(np.kron(*kron), P) < 1e-13
    r = block.r
    diag_blocks = np.stack([P[s * r:(s + 1) * r, s * r:(s + 1) * r] for s in range(block.S)])
    assert rel_err(block.sample_gram(mass), diag_blocks) < 1e-13
    B = block.materialize()
    assert rel_err(block.sample_gram(), np.einsum("sjn,sin->sji", B, B)) < 1e-13


@pytest.mark.parametrize("bname,mname", CASES)
def test_cost_estimates_are_positive_and_count_the_inner_matrix(bname, mname):
    _, block, mass = make_case(bname, mname)
    cost = block.cost(mass)
    assert isinstance(cost, BlockCost)
    q, n = block.S * block.r, block.n
    assert cost.inner_bytes >= q * q * 8 and cost.dense_bytes >= n * n * 8
    assert min(cost.inner_flops, cost.matvec_flops, cost.dense_flops) > 0


def test_a_block_without_products_or_materialize_says_what_to_implement():
    class Empty(Block):
        S, r, shapes = 2, 1, {"w": (3,)}
    with pytest.raises(NotImplementedError, match="materialize.*apply"):
        Empty().materialize()


def test_kfac_factors_default_is_a_clear_error():
    with pytest.raises(NotImplementedError, match="K-FAC"):
        DenseBlock(np.zeros((1, 1, 2)), {"w": (2,)}).kfac_factors()


def test_dense_block_checks_its_shape():
    with pytest.raises(ValueError, match=r"shape \(S, r, 3\)"):
        DenseBlock(np.zeros((2, 1, 4)), {"w": (3,)})
