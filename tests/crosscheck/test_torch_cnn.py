"""Convolutional modules against PyTorch (float64): ``conv2d``, ``max_pool2d`` (ties
included), ``avg_pool2d`` and their autograd derivatives one module at a time, then whole
random CNNs — loss, gradients, multipliers, dense metric, and the layer and network updates
against dense ``torch.linalg.solve`` solves (``crosscheck.autodiff``)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional extra: "
                                             "pip install -e '.[crosscheck]')")

from crosscheck.check import check_random_case  # noqa: E402
from crosscheck.frameworks import torch_framework  # noqa: E402
from fd import rel_err  # noqa: E402
from refimpl.modules import AvgPool2d, Conv2d, MaxPool2d  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
F = torch.nn.functional
FW = torch_framework()
EPS = np.finfo(np.float64).eps
#: (C_in, C_out, kernel, stride, padding, H, W, bias)
CONVS = [(1, 2, 3, 1, 0, 5, 5, True), (3, 4, 3, 2, 1, 8, 8, True),
         (2, 3, (2, 3), (1, 2), (1, 0), 6, 7, False), (4, 2, 1, 1, 0, 3, 3, True),
         (2, 2, 5, 2, 2, 9, 6, True)]
POOLS = [(2, 2, 0, 4, 6), (3, 2, 1, 7, 6), (3, 1, 1, 5, 5), ((2, 3), (1, 2), 0, 4, 7)]


def T(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("cfg", CONVS)
def test_conv2d_and_its_derivatives_match_torch(cfg, rng, recorder):
    ci, co, k, s, p, H, W, bias = cfg
    conv = Conv2d(ci, co, k, s, p, bias, input_size=(H, W))
    params = conv.init(rng)
    if bias:
        params["b"] = rng.standard_normal(co)
    x = rng.standard_normal((3, ci, H, W))
    y, cache = conv.forward(params, x)
    xt, Wt = T(x), T(params["W"])
    bt = T(params["b"]) if bias else None
    yt = F.conv2d(xt, Wt, bt, stride=s, padding=p)
    ybar = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(ybar))
    grads = conv.vjp_params(params, cache, ybar)
    errors = {"forward": rel_err(y, yt.detach().numpy()),
              "vjp input": rel_err(conv.vjp_input(params, cache, ybar), xt.grad.numpy()),
              "vjp W": rel_err(grads["W"], Wt.grad.numpy())}
    if bias:
        errors["vjp b"] = rel_err(grads["b"], bt.grad.numpy())
    # the factor pull-back: r rows at once, each the VJP of one row
    R = rng.standard_normal((3, 2) + y.shape[1:])
    R_in = conv.pullback_input(params, cache, R)
    for j in range(2):
        gx = torch.autograd.grad(F.conv2d(xt, Wt, bt, stride=s, padding=p), xt,
                                 torch.tensor(R[:, j]))[0]
        errors[f"pullback row {j}"] = rel_err(R_in[:, j], gx.numpy())
    for what, err in errors.items():
        recorder(FW.name, f"conv2d {what}", err, str(cfg))
        assert err < 100 * EPS, what


@pytest.mark.parametrize("cfg", POOLS)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_and_its_vjp_match_torch_ties_included(cfg, kind, rng, recorder):
    k, s, p, H, W = cfg
    cls, fn = (MaxPool2d, F.max_pool2d) if kind == "max" else (AvgPool2d, F.avg_pool2d)
    pool = cls(k, s, p, channels=2, input_size=(H, W))
    for x in (rng.standard_normal((3, 2, H, W)),
              rng.integers(0, 3, (3, 2, H, W)).astype(float)):     # many tied maxima
        y, cache = pool.forward({}, x)
        xt = T(x)
        yt = fn(xt, k, s, p)
        ybar = rng.standard_normal(y.shape)
        yt.backward(torch.tensor(ybar))
        for what, got, want in (("forward", y, yt.detach().numpy()),
                                ("vjp", pool.vjp_input({}, cache, ybar), xt.grad.numpy())):
            err = rel_err(got, want)
            recorder(FW.name, f"{kind}_pool2d {what}", err, str(cfg))
            assert err < 10 * EPS, what


@pytest.mark.parametrize("seed", range(16))
def test_random_cnn(seed, recorder):
    check_random_case(FW, seed, recorder, family="cnn")
