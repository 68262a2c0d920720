"""Convolutional modules against JAX (x64): ``lax.conv_general_dilated`` and its VJPs one
module at a time, then whole random CNNs by ``jax.grad``/``jacrev``/``hessian`` and dense
solves (``crosscheck.autodiff``)."""
import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="JAX is not installed (optional extra: "
                                        "pip install -e '.[crosscheck]')")

from crosscheck.check import check_random_case  # noqa: E402
from crosscheck.frameworks import jax_framework  # noqa: E402
from fd import rel_err  # noqa: E402
from refimpl.modules import Conv2d  # noqa: E402

FW = jax_framework()
EPS = np.finfo(np.float64).eps
CONVS = [(1, 2, 3, 1, 0, 5, 5), (3, 4, 3, 2, 1, 8, 8), (2, 3, (2, 3), (1, 2), (1, 0), 6, 7)]


@pytest.mark.parametrize("cfg", CONVS)
def test_conv_general_dilated_and_its_vjp_match(cfg, rng, recorder):
    ci, co, k, s, p, H, W = cfg
    conv = Conv2d(ci, co, k, s, p, input_size=(H, W))
    params = conv.init(rng)
    x = rng.standard_normal((3, ci, H, W))
    y, cache = conv.forward(params, x)
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)            # noqa: E731

    def f(xx, WW):
        return FW.conv2d(xx, WW, pair(s), pair(p))

    yj, vjp = jax.vjp(f, FW.asarray(x), FW.asarray(params["W"]))
    ybar = rng.standard_normal(y.shape)
    gx, gW = vjp(FW.asarray(ybar))
    for what, got, want in (("forward", y - params["b"][:, None, None], yj),
                            ("vjp input", conv.vjp_input(params, cache, ybar), gx),
                            ("vjp W", conv.vjp_params(params, cache, ybar)["W"], gW)):
        err = rel_err(got, np.asarray(want))
        recorder(FW.name, f"conv {what}", err, str(cfg))
        assert err < 100 * EPS, what


@pytest.mark.parametrize("seed", range(4))     # each compiles for seconds; torch runs 16
def test_random_cnn(seed, recorder):
    check_random_case(FW, seed, recorder, family="cnn")
