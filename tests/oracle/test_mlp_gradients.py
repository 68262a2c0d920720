"""The plain-array oracle ``mlp_gradients``: against finite differences and a from-scratch
NumPy MLP written here, and every bad-input path."""
import numpy as np
import pytest

from fd import central
from refimpl.modules import ACTIVATIONS
from refimpl.oracle import mlp_gradients


def make(rng, widths, loss, S=5):
    params = [(rng.standard_normal((o, i)) / np.sqrt(i), 0.1 * rng.standard_normal(o))
              for i, o in zip(widths, widths[1:])]
    X = rng.standard_normal((S, widths[0]))
    t = rng.standard_normal((S, widths[-1])) if loss == "mse" else rng.integers(0, widths[-1], S)
    return params, X, t


def loss_of(params, X, t, activation, loss):
    return mlp_gradients(params, X, t, activation=activation, loss=loss)["loss"]


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_gradients_match_finite_differences(rng, activation, loss):
    params, X, t = make(rng, [3, 4, 2], loss)
    if activation in ("relu", "leaky_relu"):
        X = X + 0.3 * np.sign(X)
    out = mlp_gradients(params, X, t, activation=activation, loss=loss)
    for l, (W, b) in enumerate(params):
        for which, arr in ((0, W), (1, b)):
            for idx in np.ndindex(arr.shape):
                def f(eps):
                    p = [(w.copy(), c.copy()) for w, c in params]
                    p[l][which][idx] += eps
                    return loss_of(p, X, t, activation, loss)
                fd = central(f, 0.0, 1.0)
                assert abs(fd - out["grads"][l][which][idx]) < 1e-8


def test_multipliers_match_a_from_scratch_backprop(rng):
    """λ_l = ∂ℓ_s/∂z_l from a plain loop written here (tanh, MSE)."""
    params, X, t = make(rng, [3, 5, 4, 2], "mse")
    zs, a = [], X
    for l, (W, b) in enumerate(params):
        z = a @ W.T + b
        zs.append(z)
        a = np.tanh(z) if l < len(params) - 1 else z
    lam = a - t
    expected = [None] * len(params)
    for l in reversed(range(len(params))):
        expected[l] = lam
        if l:
            lam = (lam @ params[l][0]) * (1 - np.tanh(zs[l - 1]) ** 2)
    out = mlp_gradients(params, X, t)
    for got, want in zip(out["multipliers"], expected):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    assert out["loss"] == pytest.approx(0.5 * np.mean(np.sum((a - t) ** 2, axis=1)), rel=1e-14)
    dW0 = expected[0].T @ X / X.shape[0]
    np.testing.assert_allclose(out["grads"][0][0], dW0, rtol=1e-13)


def test_batch_of_one_and_output_dimension_one(rng):
    params, X, t = make(rng, [2, 3, 1], "mse", S=1)
    out = mlp_gradients(params, X, t)
    assert out["grads"][1][0].shape == (1, 3) and out["multipliers"][1].shape == (1, 1)


def _bad(rng):
    params, X, t = make(rng, [3, 4, 2], "mse")
    yield "W shape chain", dict(params=[params[0], (np.zeros((2, 5)), np.zeros(2))]), "inputs"
    yield "b shape", dict(params=[(params[0][0], np.zeros(3)), params[1]]), "b"
    yield "not pairs", dict(params=[params[0][0]]), "pair"
    yield "empty", dict(params=[]), "non-empty"
    yield "X width", dict(X=np.zeros((5, 4))), "(S, 3)"
    yield "X nan", dict(X=np.where(X > 0, np.nan, X)), "finite"
    yield "targets shape", dict(targets=np.zeros((5, 3))), "shape"
    yield "targets inf", dict(targets=np.full((5, 2), np.inf)), "finite"
    yield "activation", dict(activation="swish"), "unknown activation"
    yield "loss", dict(loss="hinge"), "unknown loss"
    yield "labels range", dict(loss="cross_entropy", targets=np.array([0, 1, 2, 0, 1])), "[0, 2)"
    yield "labels float", dict(loss="cross_entropy", targets=np.array([0, 1, 0.5, 0, 1])), "integer"
    yield "no samples", dict(X=np.zeros((0, 3)), targets=np.zeros((0, 2))), "at least one"


@pytest.mark.parametrize("case", range(13))
def test_bad_input_is_a_clear_value_error(case):
    rng = np.random.default_rng(0)
    params, X, t = make(rng, [3, 4, 2], "mse")
    name, override, words = list(_bad(rng))[case]
    kw = dict(params=params, X=X, targets=t, activation="tanh", loss="mse") | override
    with pytest.raises(ValueError) as info:
        mlp_gradients(kw.pop("params"), kw.pop("X"), kw.pop("targets"), **kw)
    assert words in str(info.value), (name, str(info.value))


def test_scalars_and_dtypes_as_backends_pass_them(rng):
    """``mass``/``lr`` as 0-d arrays (the golden files' form) or NumPy scalars give the same
    update as floats; float32 and integer data are converted; bool data is refused."""
    from refimpl.oracle import mlp_metric_dense, mlp_riemannian_step
    from refimpl.oracle.testing import load_cases

    case = next(c for c in load_cases(select={"kind": "mlp", "mass_kind": "scalar"}))
    assert case.arrays["mass"].shape == () and case.arrays["lr"].shape == ()
    args = (case.mlp_params, case.X, case.targets)
    kw = dict(activation=case.activation, loss=case.loss, output_metric="identity")
    want = mlp_riemannian_step(*args, mass=case.mass, lr=case.lr, **kw)
    for mass, lr in ((case.arrays["mass"], case.arrays["lr"]),
                     (np.float64(case.mass), np.float32(case.lr))):
        got = mlp_riemannian_step(*args, mass=mass, lr=lr, **kw)
        assert all(np.array_equal(g, w) for gp, wp in zip(got, want) for g, w in zip(gp, wp))
    G = mlp_metric_dense(*args, layer=0, mass=case.arrays["mass"], **kw)
    np.testing.assert_array_equal(G, mlp_metric_dense(*args, layer=0, mass=case.mass, **kw))
    params, X, t = make(rng, [3, 4, 2], "mse")
    X32 = X.astype(np.float32)
    np.testing.assert_array_equal(mlp_gradients(params, X32, t)["loss"],
                                  mlp_gradients(params, X32.astype(np.float64), t)["loss"])
    with pytest.raises(TypeError, match="X has dtype bool"):
        mlp_gradients(params, X > 0, t)
    with pytest.raises(TypeError, match="mass must be a positive number .* got an array of "
                                        r"shape \(1,\)"):
        mlp_riemannian_step(params, X, t, mass=np.array([1.0]))
