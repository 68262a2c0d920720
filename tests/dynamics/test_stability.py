"""Theorem 3 (SPEC §7): the disturbance, its bound, the stability bound along training, the CLI.

Dense references: ``J`` from :meth:`Module.jacobian`, ``G`` from :meth:`BatchMetric.dense`,
gradients ``∇R = (1/n) Jᵀ (Y − T)``.
"""
import json
import math
import os

import numpy as np
import pytest

from cases import MODULE_CASES
from fd import rel_err
from refimpl import tree
from refimpl.cli import main
from refimpl.dynamics.stability import (StabilityConstants, constants_at, disturbance,
                                        disturbance_bound, gap_bound_from_disturbance,
                                        metric_change_bound, replace_sample, stability_bound)
from refimpl.dynamics.stability_experiment import (default_config, riemannian_flow, run_one,
                                                   synthetic_regression)
from refimpl.metric import build_metric
from refimpl.modules import Linear

EXACT = 1e-9
MODELS = ["linear", "mlp_tanh", "residual", "two_branch"]


def pair(rng, model, n, k=2):
    X, T = rng.standard_normal((n, model.in_space)), rng.standard_normal((n, k))
    X2, T2 = replace_sample(X, T, n - 1, rng.standard_normal(model.in_space),
                            rng.standard_normal(k))
    return (X, T), (X2, T2)


def dense(model, params, X, T, mass, scope):
    _, J = model.jacobian(params, X)
    G = build_metric(model, params, X, T, mass=mass, scope=scope).dense()
    r = model(params, X) - T
    return J, G, r


@pytest.mark.parametrize("scope", ["layer", "network"])
@pytest.mark.parametrize("name", MODELS)
def test_disturbance_equals_paper_eq8_and_rhs_difference(name, scope, rng):
    model = MODULE_CASES[name](3, 2)
    params, n, mass = model.init(rng), 4, 0.3
    D, D2 = pair(rng, model, n)
    J, G, r = dense(model, params, *D, mass, scope)
    J2, G2, r2 = dense(model, params, *D2, mass, scope)
    Jf = J.reshape(-1, J.shape[2])
    # shared metric, eq. (8): d_i = −(1/n) J_i G_D⁻¹ (J'_{i*}ᵀ ∇ℓ'_{i*} − J_{i*}ᵀ ∇ℓ_{i*})
    i = n - 1
    eq8 = -(Jf @ np.linalg.solve(G, J2[i].T @ r2[i] - J[i].T @ r[i])) / n
    d = disturbance(model, params, D, D2, mass=mass, scope=scope, metric="shared")
    assert rel_err(d.ravel(), eq8) < EXACT
    # own metrics: J_D (G_D⁻¹∇R_D − G_{D'}⁻¹∇R_{D'})
    g = np.einsum("skn,sk->n", J, r) / n
    g2 = np.einsum("skn,sk->n", J2, r2) / n
    own = Jf @ (np.linalg.solve(G, g) - np.linalg.solve(G2, g2))
    d = disturbance(model, params, D, D2, mass=mass, scope=scope, metric="own")
    assert rel_err(d.ravel(), own) < EXACT


def test_disturbance_bound_on_random_instances():
    # ‖d‖ ≤ 2κ²L/(μ√n) (shared metric: the theorem); + κ⁴L/(μ²√n) with each flow's own metric
    ratios = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        model = MODULE_CASES[MODELS[seed % 4]](3, 2)
        params, n = model.init(rng), int(rng.integers(1, 7))
        mass = 10 ** rng.uniform(-3, 2)
        if seed % 5 == 0:
            mass = tree.tree_map(lambda a: rng.uniform(0.5, 2.0, a.shape) * mass, params)
        scope = ("layer", "network")[seed % 2]
        D, D2 = pair(rng, model, n)
        c = constants_at(model, params, D, D2, mass=mass, scope=scope)
        d_shared = np.linalg.norm(disturbance(model, params, D, D2, mass=mass, scope=scope,
                                              metric="shared"))
        d_own = np.linalg.norm(disturbance(model, params, D, D2, mass=mass, scope=scope))
        assert d_shared <= c.disturbance_bound
        assert d_own <= c.disturbance_bound + c.metric_change_bound
        ratios.append(d_shared / c.disturbance_bound)
    assert 0 < max(ratios) < 1


@pytest.mark.parametrize("n", [1, 4])
def test_disturbance_bound_is_attained(n, rng):
    # all samples equal, ∇ℓ' = −∇ℓ, and M ≫ JᵀJ: every step of the bound is nearly an equality
    model, mu = Linear(3, 2), 1e4
    params = model.init(rng)
    X = np.repeat(rng.standard_normal((1, 3)), n, axis=0)
    T = np.repeat(rng.standard_normal((1, 2)), n, axis=0)
    y = model(params, X)
    D2 = replace_sample(X, T, 0, X[0], 2 * y[0] - T[0])
    c = constants_at(model, params, (X, T), D2, mass=mu)
    d = disturbance(model, params, (X, T), D2, mass=mu, metric="shared")
    assert 0.99 < np.linalg.norm(d) / c.disturbance_bound <= 1.0


@pytest.mark.parametrize("metric", ["own", "shared"])
@pytest.mark.parametrize("mass", [1e-2, 1.0, 10.0])
def test_linear_module_gap_below_bound(mass, metric):
    # one Linear: J, Θ constant, ė = −(1/n)Θe − d exactly, e(0) = 0 ⇒ for all t
    # ‖e(t)‖ ≤ (1 − e^{−ξt}) sup‖d‖/ξ ≤ 2κ²L/(ξμ√n)   (n ≤ d + 1 so that Θ is PD)
    cfg = default_config("linear", d_in=10, mass=mass, metric=metric, t_final=5.0, n_times=21)
    for n in (4, 8, 11):
        res = run_one(cfg, n)
        s = res["summary"]
        assert s["theta_positive_definite"] and s["holds"]
        assert s["gap_max"] <= s["bound"] and s["gap_max"] > 0
        for row in res["series"][1:]:
            assert row["output_gap"] <= row["gap_bound_from_d"] * (1 + 1e-6)
        if metric == "shared":
            assert s["d_holds"]


def test_contraction_constants_are_constant_along_a_linear_flow():
    cfg = default_config("linear", d_in=8, mass=0.1)
    X, T, _, _ = synthetic_regression(6, 8, 2, seed=3)
    D = (X, T)
    D2 = replace_sample(X, T, 0, np.zeros(8), np.zeros(2))
    model = Linear(8, 2)
    t, W, _ = riemannian_flow(model, model.init(np.random.default_rng(0)), D, mass=cfg.mass,
                              t_eval=np.linspace(0, 3, 4))
    cs = [constants_at(model, w, D, D2, mass=cfg.mass) for w in W]
    assert all(abs(c.xi - cs[0].xi) < 1e-10 * cs[0].xi for c in cs)
    assert all(abs(c.kappa - cs[0].kappa) < 1e-12 * cs[0].kappa for c in cs)
    assert cs[-1].L < cs[0].L                      # the residuals shrink along the flow


def test_bound_formulas():
    c = StabilityConstants(kappa=2.0, L=3.0, mu=0.5, xi=0.25, n=16)
    assert c.disturbance_bound == pytest.approx(2 * 4 * 3 / (0.5 * 4))
    assert c.bound == pytest.approx(c.disturbance_bound / 0.25)
    assert c.metric_change_bound == pytest.approx(16 * 3 / (0.25 * 4))
    assert stability_bound(2.0, 3.0, 0.5, 0.0, 16) == math.inf       # Θ singular: no bound
    assert gap_bound_from_disturbance(1.0, 0.5) == pytest.approx(2.0)
    assert gap_bound_from_disturbance(1.0, 0.5, 2.0) == pytest.approx(2 * (1 - math.exp(-1)))


def test_synthetic_data_is_seeded_and_nested():
    a = synthetic_regression(5, 4, 2, seed=7)
    b = synthetic_regression(9, 4, 2, seed=7)
    assert np.array_equal(a[0], b[0][:5]) and np.array_equal(a[1], b[1][:5])
    assert np.array_equal(a[2], b[2]) and np.array_equal(a[3], b[3])
    assert not np.array_equal(a[0], synthetic_regression(5, 4, 2, seed=8)[0])


@pytest.mark.parametrize("call, match", [
    (lambda: stability_bound(1.0, 1.0, 1.0, 0.5, 0), "positive int"),
    (lambda: stability_bound(1.0, 1.0, 0.0, 0.5, 4), "mu"),
    (lambda: disturbance_bound(-1.0, 1.0, 1.0, 4), ">= 0"),
    (lambda: metric_change_bound(1.0, float("nan"), 1.0, 4), "finite"),
    (lambda: replace_sample(np.ones((3, 2)), np.ones((3, 1)), 3, [0, 0], [0]), "index"),
    (lambda: replace_sample(np.ones((3, 2)), np.ones((2, 1)), 0, [0, 0], [0]), "same number"),
    (lambda: replace_sample(np.ones((3, 2)), np.ones((3, 1)), 0, [0, 0, 0], [0]), "x_new"),
    (lambda: default_config("linear", ns=(0, 4)), "positive"),
    (lambda: default_config("linear", ns=(16,), mass=-1.0), "mass"),
    (lambda: default_config("conv"), "model"),
])
def test_bad_inputs_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_disturbance_rejects_mismatched_data(rng):
    model = Linear(3, 2)
    params = model.init(rng)
    D = (rng.standard_normal((4, 3)), rng.standard_normal((4, 2)))
    with pytest.raises(ValueError, match="same shape"):
        disturbance(model, params, D, (D[0][:3], D[1][:3]))
    with pytest.raises(ValueError, match="targets"):
        disturbance(model, params, D, (D[0], D[1][:, :1]))
    with pytest.raises(ValueError, match="metric"):
        disturbance(model, params, D, D, metric="mine")


def test_cli_writes_json_csv_and_plots(tmp_path, capsys):
    out = str(tmp_path / "stab")
    argv = ["stability", "--out", out, "--n", "3,5", "--d", "6", "--hidden", "4",
            "--t-final", "1", "--n-times", "4"]
    assert main(argv) == 0
    doc = json.load(open(os.path.join(out, "stability.json")))
    for model in ("linear", "mlp"):
        rows = doc["runs"][model]["results"]
        assert [r["n"] for r in rows] == [3, 5]
        for key in ("gap_final", "bound", "kappa", "L", "mu", "xi", "holds"):
            assert key in rows[0]
        for name in (f"stability_time_{model}.png", f"stability_n_{model}.png"):
            assert os.path.getsize(os.path.join(out, name)) > 1000
    assert doc["runs"]["linear"]["all_hold"]
    lines = open(os.path.join(out, "stability_timeseries.csv")).read().splitlines()
    assert lines[0].startswith("model,n,t,output_gap") and len(lines) == 1 + 2 * 2 * 4
    assert "holds" in capsys.readouterr().out


def test_cli_bad_input_is_a_one_line_error(tmp_path, capsys):
    assert main(["stability", "--out", str(tmp_path), "--n", "0,4"]) == 1
    err = capsys.readouterr().err
    assert "positive" in err and "Traceback" not in err
