"""Conv2d's definition and its metric block ``ConvBlock`` (math §4): the structured products
and both routes of the Gram against the dense metric built from per-sample Jacobians."""
import numpy as np
import pytest

from fd import rel_err
from refimpl import tree
from refimpl.metric import Mass
from refimpl.modules import Conv2d, ConvBlock, Flatten, Linear, Sequential

EPS = np.finfo(np.float64).eps

#: (conv, S, r) for the block tests; the last two have few positions and many parameters
BLOCK_CASES = {
    "stride2_pad1": (lambda: Conv2d(3, 4, 3, stride=2, padding=1, input_size=(6, 6)), 4, 3),
    "rect_nobias": (lambda: Conv2d(2, 3, (2, 3), stride=(1, 2), bias=False,
                                   input_size=(4, 7)), 3, 2),
    "one_position": (lambda: Conv2d(3, 5, 3, input_size=(3, 3)), 5, 2),
    "few_positions": (lambda: Conv2d(6, 4, 3, padding=1, input_size=(2, 2)), 6, 3),
}
MASSES = {
    "scalar": lambda shapes, rng: 0.3,
    "per-leaf": lambda shapes, rng: {"W": np.full(shapes["W"], 0.7)}
    | ({"b": np.full(shapes["b"], 2.0)} if "b" in shapes else {}),
    "per-parameter": lambda shapes, rng: {k: rng.uniform(0.1, 10.0, s) for k, s in shapes.items()},
}


def block_case(name, rng):
    build, S, r = BLOCK_CASES[name]
    conv = build()
    params = conv.init(rng)
    if conv.bias:
        params["b"] = rng.standard_normal(params["b"].shape)
    x = rng.standard_normal((S,) + conv.in_space.shape)
    _, cols = conv.forward(params, x)
    R = rng.standard_normal((S, r) + conv.out_space.shape)
    _, Jw = conv.jacobian(params, x)
    return conv, conv.param_blocks(params, cols, R), R.reshape(S, r, -1) @ Jw


def test_forward_is_the_cross_correlation_of_its_definition(rng):
    conv = Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 1), input_size=(5, 4))
    params = conv.init(rng)
    params["b"] = rng.standard_normal(3)
    x = rng.standard_normal((2, 2, 5, 4))
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = np.empty((2, 3, 3, 5))
    for u in range(3):
        for v in range(5):
            win = xp[:, :, 2 * u:2 * u + 3, v:v + 2]
            want[:, :, u, v] = np.einsum("scij,ocij->so", win, params["W"]) + params["b"]
    assert rel_err(conv(params, x), want) < 10 * EPS


@pytest.mark.parametrize("name", list(BLOCK_CASES))
def test_block_materialises_R_times_the_jacobian_and_its_products_are_adjoint(name, rng):
    _, block, B = block_case(name, rng)
    S, r, n = B.shape
    assert block.n == n and rel_err(block.materialize(), B) < 100 * EPS
    v = {k: rng.standard_normal(s) for k, s in block.shapes.items()}
    C = rng.standard_normal((S, r))
    assert rel_err(block.apply(v), B @ tree.flatten(v)) < 100 * EPS
    assert rel_err(tree.flatten(block.apply_T(C)), np.einsum("srn,sr->n", B, C)) < 100 * EPS
    assert rel_err(block.sample_gram(), B @ np.swapaxes(B, 1, 2)) < 100 * EPS
    m = Mass.parse({k: rng.uniform(0.1, 10.0, s) for k, s in block.shapes.items()}, block.shapes)
    Bm = B * m.flat_inverse(block.shapes)
    assert rel_err(block.sample_gram(m), Bm @ np.swapaxes(B, 1, 2)) < 100 * EPS


@pytest.mark.parametrize("mass_kind", list(MASSES))
@pytest.mark.parametrize("name", list(BLOCK_CASES))
def test_gram_equals_the_dense_inner_matrix_by_every_route(name, mass_kind, rng):
    """K = I + scale·B̃M⁻¹B̃ᵀ (lower triangle) by each route, against the dense product; the
    tolerance is rounding in sums of n terms of size max|B|²/min M."""
    _, block, B = block_case(name, rng)
    S, r, n = B.shape
    mass = Mass.parse(MASSES[mass_kind](block.shapes, rng), block.shapes)
    inv = mass.flat_inverse(block.shapes)
    Bt = B.reshape(S * r, n)
    want = np.eye(S * r) + 0.25 * (Bt * inv) @ Bt.T
    lower = np.tril_indices(S * r)
    tol = 10 * n * EPS * 0.25 * np.max(np.abs(Bt)) ** 2 * inv.max()
    routes = ["conv-materialise"] + (["conv-positions"] if mass_kind != "per-parameter" else [])
    assert block.formula(mass) in routes
    for route in routes:
        block.formula = lambda mass, route=route: route       # force the route
        got = block.inner_matrix(mass, 0.25)
        assert np.max(np.abs(got[lower] - want[lower])) <= tol, route
        got32 = block.inner_matrix(mass, 0.25, dtype=np.float32)
        assert got32.dtype == np.float32
        assert np.max(np.abs(got32[lower] - want[lower])) <= tol / EPS * 2e-7, route
    x = rng.standard_normal((S * r, 2))
    assert rel_err(block.inner_matvec(mass, 0.25)(x), want @ x) < 100 * n * EPS


def test_formula_follows_the_flop_count(rng):
    """Many positions: forming B̃ is cheaper; few positions and many weights: the patch Gram
    (DeepOBS 3c3d's third convolution, 6×6 positions, at batch 32)."""
    big_P = block_case("stride2_pad1", rng)[1]
    conv3 = Conv2d(96, 128, 3, padding=1, input_size=(6, 6))
    cols = np.zeros((conv3.patch_size, 32, conv3.positions))
    few = ConvBlock(np.zeros((32, 10, 128, 36)), cols, conv3.weight_shape, True)
    scalar = Mass.parse(0.3, few.shapes)
    assert big_P.formula(scalar) == "conv-materialise"
    assert few.formula(scalar) == "conv-positions"
    flops = few.formula_flops()
    assert flops["conv-positions"] < 0.5 * flops["conv-materialise"]
    assert few.cost(scalar).inner_flops < flops["conv-materialise"]
    per_leaf = Mass.parse({"W": np.full(few.shapes["W"], 2.0), "b": np.ones(128)}, few.shapes)
    assert few.formula(per_leaf) == "conv-positions"          # one scalar on each leaf


def test_kfac_factors_are_the_averages_of_their_definition(rng):
    """A = mean over samples and positions of (u, 1)(u, 1)ᵀ, G = (1/S) Σ_{s,j,p} R R ᵀ; for one
    sample, one row and one position, G ⊗ A is the exact block of [W₂ | b]."""
    conv, block, _ = block_case("stride2_pad1", rng)
    A, G = block.kfac_factors()
    S, P = block.S, block.P
    U = np.vstack([block.cols.reshape(block.K, -1), np.ones((1, S * P))])
    assert rel_err(A, U @ U.T / (S * P)) < 100 * EPS
    assert rel_err(G, np.einsum("sjop,sjqp->oq", block.R, block.R) / S) < 100 * EPS
    one = Conv2d(2, 3, 3, input_size=(3, 3))
    params = one.init(rng)
    _, cols = one.forward(params, rng.standard_normal((1, 2, 3, 3)))
    b1 = one.param_blocks(params, cols, rng.standard_normal((1, 1, 3, 1, 1)))
    A1, G1 = b1.kfac_factors()
    B = b1.materialize()[0, 0]
    Wb = np.concatenate([B[:54].reshape(3, 18), B[54:, None]], axis=1).ravel()
    assert rel_err(np.kron(G1, A1), np.outer(Wb, Wb)) < 100 * EPS


def test_linear_and_its_1x1_convolution_on_1x1_images_have_the_same_blocks(rng):
    """A 1×1 convolution of a 1×1 image is a linear layer: same output and same metric."""
    conv = Conv2d(4, 3, 1, input_size=(1, 1))
    lin = Linear(4, 3)
    params = conv.init(rng)
    params["b"] = rng.standard_normal(3)
    lp = {"W": params["W"][:, :, 0, 0], "b": params["b"]}
    x = rng.standard_normal((5, 4, 1, 1))
    y, cols = conv.forward(params, x)
    assert rel_err(y[:, :, 0, 0], lin(lp, x[:, :, 0, 0])) < 10 * EPS
    R = rng.standard_normal((5, 2, 3, 1, 1))
    Bc = conv.param_blocks(params, cols, R).materialize()
    Bl = lin.param_blocks(lp, lin.forward(lp, x[:, :, 0, 0])[1], R[..., 0, 0]).materialize()
    assert rel_err(Bc, Bl) < 10 * EPS


BAD = [
    (lambda: Conv2d(0, 3, 3, input_size=(5, 5)), ["in_channels"]),
    (lambda: Conv2d(2, 3, 6, input_size=(5, 5)), ["kernel", "larger", "height"]),
    (lambda: Conv2d(2, 3, (3, 3, 3), input_size=(5, 5)), ["kernel_size", "pair"]),
    (lambda: Conv2d(2, 3, 3, stride=0, input_size=(5, 5)), ["stride"]),
    (lambda: Conv2d(2, 3, 3, padding=-1, input_size=(5, 5)), ["padding", "≥ 0"]),
    (lambda: Conv2d(2, 3, 3, input_size=5.0), ["input_size"]),
    (lambda: Sequential(Conv2d(1, 2, 3, input_size=(5, 5)), Flatten((2, 4, 4))),
     ["R^{2×3×3}", "R^{2×4×4}"]),
    (lambda: Sequential(Conv2d(1, 2, 3, input_size=(5, 5)), Linear(18, 2)),
     ["R^{2×3×3}", "R^18", "Flatten"]),
]


@pytest.mark.parametrize("build,words", BAD)
def test_bad_construction_is_a_clear_error(build, words):
    with pytest.raises(ValueError) as info:
        build()
    for w in words:
        assert w in str(info.value)


def test_bad_input_shape_names_the_image_shape(rng):
    conv = Conv2d(3, 2, 3, input_size=(8, 8))
    with pytest.raises(ValueError, match=r"\(S, 3, 8, 8\).*R\^\{3×8×8\}.*\(2, 3, 8, 7\)"):
        conv.forward(conv.init(rng), np.zeros((2, 3, 8, 7)))


def test_auto_takes_the_primal_solve_for_a_small_layer_and_woodbury_for_a_large_one():
    """From the blocks' cost alone (shapes of the cnn model at batch 128, r = 10): the first
    convolution (1→16, 3×3: 160 parameters, q = S·r = 1280) is solved in the primal, the
    second (16→32, 3×3: 4,640 parameters) through Woodbury."""
    from refimpl.metric.plan import choose

    def block(c_in, c_out, P, S=128, r=10):
        zeros = np.broadcast_to(0.0, (S, r, c_out, P))        # shapes only: no data needed
        return ConvBlock(zeros, np.broadcast_to(0.0, (c_in * 9, S, P)),
                         (c_out, c_in, 3, 3), True)

    for b, method in ((block(1, 16, 784), "primal"), (block(16, 32, 196), "woodbury")):
        assert choose([b], [Mass.parse(0.1, b.shapes)], "auto", 1e12).method == method


def test_the_step_reports_each_convolution_s_method_and_formula(rng):
    from refimpl.optim import RiemannianSGD

    net = Sequential(Conv2d(1, 2, 3, input_size=(6, 6)), Flatten((2, 4, 4)), Linear(32, 3))
    opt = RiemannianSGD(net, "cross_entropy", lr=1.0, mass=0.5)
    state = opt.init(net.init(rng))
    _, info = opt.update(state, rng.standard_normal((40, 1, 6, 6)), rng.integers(0, 3, 40))
    assert info["methods"] == {"0": "primal/dense",       # 20 parameters, S·r = 120
                               "2": "woodbury/linear-shared-factor"}


def test_inner_matrix_reads_and_writes_only_the_lower_triangle(rng, monkeypatch):
    """The lower-triangle Gram leaves the strict upper triangle unset (reused memory); no
    arithmetic may touch it (signalling NaNs there would raise 'invalid value')."""
    import refimpl.modules.conv as conv_module
    from refimpl.linalg import gram_lower

    def poisoned(X):                              # signalling NaNs above the diagonal
        K = gram_lower(X).copy()
        K[np.triu_indices(K.shape[0], 1)] = np.array(0x7FA00000, np.uint32).view(np.float32)
        return K

    monkeypatch.setattr(conv_module, "gram_lower", poisoned)
    _, block, B = block_case("stride2_pad1", rng)
    q = block.S * block.r
    with np.errstate(invalid="raise"):
        K = block.inner_matrix(Mass.parse(0.3, block.shapes), 0.5, np.float32)
    lower = np.tril_indices(q)
    Bt = B.reshape(q, -1)
    assert np.all(np.isfinite(K[lower]))
    assert rel_err(K[lower], (np.eye(q) + 0.5 / 0.3 * Bt @ Bt.T)[lower]) < 1e-5
