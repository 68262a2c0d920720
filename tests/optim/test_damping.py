"""Adaptive damping (Levenberg–Marquardt): the rule, the quadratic model against the metric's
``G Δ``, how Riemannian SGD and Gauss–Newton use it, and clear errors."""
import numpy as np
import pytest

from refimpl import tree
from refimpl.losses import get_loss
from refimpl.metric import build_metric
from refimpl.modules import mlp
from refimpl.optim import LevenbergMarquardt, make_optimizer
from refimpl.optim.damping import batch_risk, quadratic_change

OMEGA = 0.9 ** 5


def _problem(seed=0, S=16):
    rng = np.random.default_rng(seed)
    model = mlp([5, 7, 3], "tanh")
    return model, model.init(rng), rng.standard_normal((S, 5)), rng.integers(0, 3, S)


# -- the rule ---------------------------------------------------------------------------------
def _slot(value, worst=np.inf, nu=1 / OMEGA):
    return dict(LevenbergMarquardt().init(value), worst=np.array(worst), nu=np.array(nu))


@pytest.mark.parametrize("old,new,pred,step,want_factor", [
    (1.0, 0.9, -0.1, 0, OMEGA),           # ρ = 1 > 0.75: lower μ
    (1.0, 0.95, -0.1, 0, 1.0),            # ρ = 0.5: keep
    (1.0, 0.99, -0.1, 0, 1 / OMEGA),      # ρ = 0.1 < 0.25: raise
    (1.0, 1.2, -0.1, 0, 1 / OMEGA),       # ρ < 0: raise
    (1.0, np.inf, -0.1, 0, 1 / OMEGA),    # not finite: raise
    (1.0, 0.9, 0.0, 0, 1 / OMEGA),        # no predicted decrease: raise
    (1.0, 0.9, -0.1, 3, 1.0),             # not an adjustment step
    (1.0, 0.99, -0.1, 5, 1 / OMEGA),
])
def test_rule_moves_mu_by_omega_on_the_reduction_ratio(old, new, pred, step, want_factor):
    slot, rho, rejected = LevenbergMarquardt().review(step, _slot(0.1), old, new, pred)
    assert float(slot["value"]) == pytest.approx(0.1 * want_factor, rel=1e-15)
    assert not rejected and float(slot["nu"]) == 1 / OMEGA
    if np.isfinite(new) and pred < 0:
        assert rho == pytest.approx((new - old) / pred)


def test_rule_keeps_mu_within_its_bounds_and_rejects_increases():
    rule = LevenbergMarquardt(min_value=0.05, max_value=0.2, reject=True)
    assert float(rule.review(0, _slot(0.06), 1.0, 0.9, -0.1)[0]["value"]) == 0.05
    assert float(rule.review(0, _slot(0.19), 1.0, 1.5, -0.1)[0]["value"]) == 0.2
    slot, rho, rejected = rule.review(3, _slot(0.1), 1.0, 1.01, -0.1)   # off-interval, rejected
    assert rejected and rho < 0 and float(slot["value"]) == pytest.approx(0.1 / OMEGA)
    assert rule.measures(3) and not LevenbergMarquardt().measures(3)


def test_with_rejection_a_poor_step_is_not_taken_a_good_one_lowers_mu_at_the_interval():
    """reject=True: every step is a trust-region test; ρ < lower (0.1 here) is rejected and
    raises μ at once, ρ > upper lowers it only on an adjustment step."""
    rule = LevenbergMarquardt(reject=True)
    slot, rho, rejected = rule.review(3, _slot(0.1), 1.0, 0.99, -0.1)   # the risk fell, ρ = 0.1
    assert rejected and rho == pytest.approx(0.1)
    assert float(slot["value"]) == pytest.approx(0.1 / OMEGA)
    slot, _, rejected = rule.review(3, _slot(0.1), 1.0, 0.97, -0.1)      # ρ = 0.3: taken, kept
    assert not rejected and float(slot["value"]) == 0.1
    assert float(rule.review(3, _slot(0.1), 1.0, 0.9, -0.1)[0]["value"]) == 0.1   # ρ = 1
    assert float(rule.review(5, _slot(0.1), 1.0, 0.9, -0.1)[0]["value"]) == \
        pytest.approx(0.1 * OMEGA)
    assert float(rule.review(5, _slot(0.1, worst=0.5), 1.0, 0.9, -0.1)[0]["value"]) == 0.1


@pytest.mark.parametrize("escalation", [1.0, 2.0, 3.0])
def test_consecutive_rejections_escalate_the_raise_and_a_step_taken_resets_it(escalation):
    """Nielsen's rule on rejections: μ ← νμ, ν ← escalation·ν, ν back to 1/ω once a step is
    taken (with ρ in the band: μ kept)."""
    rule = LevenbergMarquardt(reject=True, escalation=escalation)
    slot, mu, nu = rule.init(0.01), 0.01, 1 / OMEGA
    for step in range(1, 5):                                     # off-interval steps
        slot, _, rejected = rule.review(step, slot, 1.0, 1.5, -0.1)
        mu, nu = mu * nu, nu * escalation
        assert rejected and float(slot["value"]) == pytest.approx(mu, rel=1e-14)
        assert float(slot["nu"]) == pytest.approx(nu, rel=1e-14)
    slot, rho, rejected = rule.review(6, slot, 1.0, 0.95, -0.1)   # ρ = 0.5: taken, kept
    assert not rejected and float(slot["value"]) == pytest.approx(mu, rel=1e-14)
    assert float(slot["nu"]) == 1 / OMEGA


def test_the_slots_track_the_smallest_rho_since_the_last_adjustment():
    model, params, X, t = _problem()
    opt = make_optimizer("riemannian", model, "cross_entropy", lr=0.5, mass=0.1,
                         output_metric="gauss-newton",
                         damping=LevenbergMarquardt(reject=True, interval=3))
    state, rhos = opt.init(params), []
    for step in range(4):
        state, info = opt.update(state, X, t)
        rhos.append(info["rho"])
        want = np.inf if step % 3 == 0 else min(rhos[1:step + 1])
        assert float(state.slots["damping"]["worst"]) == want


# -- the quadratic model ----------------------------------------------------------------------
@pytest.mark.parametrize("scope", ["layer", "network"])
@pytest.mark.parametrize("include", [False, True])
def test_quadratic_change_equals_the_model_with_the_metric_matvec(scope, include):
    model, params, X, t = _problem()
    mu, lr = 0.03, 0.7
    bm = build_metric(model, params, X, t, loss="cross_entropy", output_metric="gauss-newton",
                      mass=mu, scope=scope)
    update, diag = bm.step(lr)
    GD = bm.matvec(update)
    want = tree.vdot(bm.grads, update) + 0.5 * tree.vdot(update, GD) \
        - (0.0 if include else 0.5 * mu * tree.vdot(update, update))
    got = quadratic_change(bm.grads, update, lr, mu, include)
    scale = abs(tree.vdot(bm.grads, update))
    assert abs(got - want) <= 10 * (diag["residual"] + 1e-15) * scale


def test_batch_risk_is_the_mean_loss_and_inf_beyond_the_floats():
    model, params, X, t = _problem()
    loss = get_loss("cross_entropy")
    assert batch_risk(model, loss, params, X, t) == pytest.approx(
        float(np.mean(loss.value(model(params, X), t))), rel=1e-15)
    huge = tree.tree_map(np.copy, params)
    huge["2"]["W"] *= 1e308                          # logits overflow
    assert batch_risk(model, loss, huge, X, t) == np.inf


# -- the optimizers ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["riemannian", "gauss-newton"])
def test_fixed_damping_is_the_plain_step(name):
    model, params, X, t = _problem()
    kw = dict(lr=0.5, mass=0.2, output_metric="gauss-newton")
    a = make_optimizer(name, model, "cross_entropy", **kw)
    b = make_optimizer(name, model, "cross_entropy", damping="fixed", **kw)
    sa, _ = a.update(a.init(params), X, t)
    sb, _ = b.update(b.init(params), X, t)
    assert sa.slots == sb.slots == {}
    assert all(np.array_equal(x, y) for x, y in zip(tree.leaves(sa.params),
                                                     tree.leaves(sb.params)))


@pytest.mark.parametrize("name", ["riemannian", "gauss-newton"])
def test_adaptive_mu_follows_the_rule_step_by_step(name):
    """Replaying the rule on the reported losses gives the μ of every step, and each step is
    the fixed-mass step at that μ."""
    model, params, _, _ = _problem()
    rng = np.random.default_rng(3)
    rule = LevenbergMarquardt(interval=2)
    opt = make_optimizer(name, model, "cross_entropy", lr=1.0, mass=0.01,
                         output_metric="gauss-newton", damping=rule)
    state, mu, slot = opt.init(params), 0.01, rule.init(0.01)
    for step in range(6):
        X, t = rng.standard_normal((16, 5)), rng.integers(0, 3, 16)
        fixed = make_optimizer(name, model, "cross_entropy", lr=1.0, mass=mu,
                               output_metric="gauss-newton")
        want, _ = fixed.update(fixed.init(state.params), X, t)
        state, info = opt.update(state, X, t)
        assert info["damping"] == mu
        assert all(np.array_equal(x, y) for x, y in zip(tree.leaves(state.params),
                                                         tree.leaves(want.params)))
        if step % 2 == 0:
            assert np.isfinite(info["rho"])
            assert info["new_loss"] == pytest.approx(batch_risk(
                model, opt.loss, state.params, X, t), rel=1e-14)
            slot = rule.review(step, slot, info["loss"], info["new_loss"],
                               info["rho"] and (info["new_loss"] - info["loss"]) / info["rho"])[0]
            slot = dict(slot, worst=np.array(np.inf))              # an adjustment step
            mu = float(slot["value"])
        else:
            assert np.isnan(info["rho"])
        assert float(state.slots["damping"]["value"]) == mu


def test_a_rejected_step_keeps_the_parameters_and_raises_mu():
    model, params, X, t = _problem()
    # lr 8 overshoots: the batch risk rises, the step is not taken
    opt = make_optimizer("riemannian", model, "cross_entropy", lr=8.0, mass=1e-3,
                         output_metric="gauss-newton", damping=LevenbergMarquardt(reject=True))
    s0 = opt.init(params)
    s1, info = opt.update(s0, X, t)
    assert info["rejected"] == 1.0 and info["new_loss"] > info["loss"]
    assert info["update_norm"] == 0.0 and info["retries"] == 0.0
    assert all(np.array_equal(x, y) for x, y in zip(tree.leaves(s0.params),
                                                     tree.leaves(s1.params)))
    assert float(s1.slots["damping"]["value"]) == pytest.approx(1e-3 / OMEGA)
    assert float(s1.slots["damping"]["nu"]) == pytest.approx(2 / OMEGA)
    assert "adaptive" in opt.hyperparameters()["damping"]


@pytest.mark.parametrize("name", ["riemannian", "gauss-newton"])
def test_retries_solve_a_rejected_step_again_on_the_same_batch(name):
    """With retries, the step taken is the fixed-mass step at the raised μ (bit for bit: the
    same passes, a new metric), μ having been raised by ν = 1/ω, 2/ω, … once per retry."""
    model, params, X, t = _problem()
    rule = LevenbergMarquardt(reject=True, retries=6)
    opt = make_optimizer(name, model, "cross_entropy", lr=8.0, mass=1e-3,
                         output_metric="gauss-newton", damping=rule)
    state, info = opt.update(opt.init(params), X, t)
    k = int(info["retries"])
    assert k >= 1 and info["rejected"] == 0.0 and info["rho"] >= rule.lower
    assert info["damping"] == pytest.approx(1e-3 * np.prod([2 ** i / OMEGA for i in range(k)]),
                                            rel=1e-14)
    fixed = make_optimizer(name, model, "cross_entropy", lr=8.0, mass=info["damping"],
                           output_metric="gauss-newton")
    want, _ = fixed.update(fixed.init(params), X, t)
    assert all(np.array_equal(x, y) for x, y in zip(tree.leaves(state.params),
                                                     tree.leaves(want.params)))
    assert float(state.slots["damping"]["nu"]) == 1 / OMEGA          # reset: a step taken


def test_when_the_retries_run_out_the_step_is_rejected():
    model, params, X, t = _problem()
    opt = make_optimizer("riemannian", model, "cross_entropy", lr=50.0, mass=1e-6,
                         output_metric="gauss-newton",
                         damping=LevenbergMarquardt(reject=True, retries=1))
    s0 = opt.init(params)
    s1, info = opt.update(s0, X, t)
    assert info["rejected"] == 1.0 and info["retries"] == 1.0 and info["update_norm"] == 0.0
    assert float(s1.slots["damping"]["value"]) == pytest.approx(1e-6 * 2 / OMEGA ** 2)
    assert all(np.array_equal(x, y) for x, y in zip(tree.leaves(s0.params),
                                                     tree.leaves(s1.params)))


@pytest.mark.parametrize("kw,error,words", [
    (dict(decay=1.0), ValueError, r"decay must be in \(0, 1\)"),
    (dict(decay=float("nan")), ValueError, "decay must be a finite number"),
    (dict(interval=0), ValueError, "interval must be an int ≥ 1"),
    (dict(retries=-1), ValueError, "retries must be an int ≥ 0"),
    (dict(retries=2), ValueError, "need reject=True"),
    (dict(escalation=0.5), ValueError, "escalation must be ≥ 1"),
    (dict(lower=0.8, upper=0.5), ValueError, "lower < upper"),
    (dict(min_value=0.0), ValueError, "0 < min_value"),
    (dict(min_value=2.0, max_value=1.0), ValueError, "min_value ≤ max_value"),
    (dict(reject="yes"), TypeError, "reject must be True or False"),
])
def test_bad_rule_settings_are_clear_errors(kw, error, words):
    with pytest.raises(error, match=words):
        LevenbergMarquardt(**kw)


@pytest.mark.parametrize("kw,words", [
    (dict(damping="levenberg"), "unknown damping 'levenberg'"),
    (dict(damping=LevenbergMarquardt(min_value=0.1)), "outside the bounds"),
    (dict(damping="adaptive", mass="tree"), "adapts a scalar mass"),
])
def test_bad_damping_options_are_clear_errors(kw, words):
    model, params, _, _ = _problem()
    if kw.get("mass") == "tree":
        kw["mass"] = tree.tree_map(lambda a: np.full_like(a, 0.1), params)
    kw.setdefault("mass", 0.01)
    with pytest.raises(ValueError, match=words):
        make_optimizer("riemannian", model, "cross_entropy", lr=1.0, **kw)
