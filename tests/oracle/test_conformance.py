"""refimpl.oracle.testing: refimpl's own public functions pass every quantity; deliberately
wrong implementations fail with a report that names the case, the entry and the errors."""
import numpy as np
import pytest

from conditioning import golden_conditions, solve_tol
from refimpl import tree
from refimpl.backprop import solve
from refimpl.metric import build_metric
from refimpl.oracle import mlp_gradients, mlp_metric_dense, mlp_riemannian_step
from refimpl.oracle import testing as T


@pytest.fixture(scope="module")
def cases():
    return T.load_cases()


# -- refimpl's public API as a "backend" ----------------------------------------------------------
def loss(case):
    if case.kind == "mlp":
        return mlp_gradients(case.mlp_params, case.X, case.targets,
                             activation=case.activation, loss=case.loss)["loss"]
    return solve(case.module, case.params_tree, case.X, case.targets, case.loss).risk


def gradients(case):
    if case.kind == "mlp":
        return mlp_gradients(case.mlp_params, case.X, case.targets,
                             activation=case.activation, loss=case.loss)["grads"]
    return dict(tree.items(solve(case.module, case.params_tree, case.X, case.targets,
                                 case.loss).grads))


def multipliers(case):
    if case.kind == "mlp":
        return mlp_gradients(case.mlp_params, case.X, case.targets,
                             activation=case.activation, loss=case.loss)["multipliers"]
    st = solve(case.module, case.params_tree, case.X, case.targets, case.loss)
    out = {}
    for m in case.modules:
        node = st.module_multipliers
        for key in m.split("/"):
            node = node[key]
        out[m] = node
    return out


def _metric(case, scope):
    return build_metric(case.module, case.params_tree, case.X, case.targets, loss=case.loss,
                        output_metric=case.metric_argument, mass=case.mass_tree, scope=scope)


def metric(case):
    if case.kind == "mlp":
        return [mlp_metric_dense(case.mlp_params, case.X, case.targets, layer=l,
                                 activation=case.activation, loss=case.loss,
                                 output_metric=case.metric_argument, mass=case.mlp_mass)
                for l in range(len(case.modules))]
    bm = _metric(case, "layer")
    return {m: bm.layers[m].dense() for m in case.modules}


def metric_network(case):
    return _metric(case, "network").dense()


def solves(case):
    bm = _metric(case, "layer")
    out = {}
    for m in case.modules:
        lm = bm.layers[m]
        v = tree.unflatten({k: np.zeros(s) for k, s in lm.block.shapes.items()}, case.v[m])
        out[m] = tree.flatten(lm.solve(v))
    return out


def step(scope):
    def fn(case):
        if case.kind == "mlp":
            return mlp_riemannian_step(case.mlp_params, case.X, case.targets,
                                       activation=case.activation, loss=case.loss,
                                       output_metric=case.metric_argument, mass=case.mlp_mass,
                                       lr=case.lr, scope=scope)
        return dict(tree.items(_metric(case, scope).step(case.lr)[0]))
    return fn


REFIMPL = {"loss": loss, "gradients": gradients, "multipliers": multipliers, "metric": metric,
           "metric_network": metric_network, "solve": solves,
           "update_layer": step("layer"), "update_network": step("network")}


PRODUCTS_RTOL = 1e-12   # no solve: products and sums of O(10) terms (measured ≤ 2e-15)


def bound(case, quantity) -> float:
    """solve_tol(κ) with κ from the case's own G for a quantity solved with it (the worst
    module for the layer scope); PRODUCTS_RTOL for the others."""
    kappa = golden_conditions(case)
    if quantity in ("solve", "update_layer"):
        return solve_tol(max(kappa[m] for m in case.modules))
    if quantity == "update_network":
        return solve_tol(kappa["network"])
    return PRODUCTS_RTOL


@pytest.mark.parametrize("quantity", T.QUANTITIES)
def test_refimpl_public_functions_pass(cases, quantity):
    """Every case within its golden tolerance, and refimpl much closer to its own set: solves
    and updates within 50·ε·κ of the case's conditioning, the rest within 1e-12."""
    report = T.check(quantity, REFIMPL[quantity], cases=cases)
    assert report.passed and len(report.results) == len(cases)
    for r in report.results:
        assert r.rel_error <= bound(r.case, quantity), (r.case.name, r.rel_error)
    assert str(report).startswith(f"{quantity}: {len(cases)}/{len(cases)} cases pass")


def test_named_checks_route_to_their_quantities(cases):
    assert T.check_loss(loss, cases=cases).quantity == "loss"
    assert T.check_gradients(gradients, cases=cases).quantity == "gradients"
    assert T.check_multipliers(multipliers, cases=cases).quantity == "multipliers"
    assert T.check_metric(metric, cases=cases).quantity == "metric"
    assert T.check_metric(metric_network, scope="network", cases=cases).quantity == \
        "metric_network"
    assert T.check_solve(solves, cases=cases).quantity == "solve"
    assert T.check_riemannian_step(step("network"), scope="network",
                                   cases=cases).quantity == "update_network"
    with pytest.raises(ValueError, match="unknown scope 'global'"):
        T.check_riemannian_step(step("layer"), scope="global", cases=cases)


# -- wrong implementations fail informatively ------------------------------------------------
def test_a_sum_instead_of_a_mean_fails_with_a_full_report(cases):
    def summed(case):
        return [(case.batch * W, case.batch * b) for W, b in gradients(case)]

    with pytest.raises(AssertionError) as err:
        T.check_gradients(summed, cases=cases, select={"kind": "mlp", "batch": (4, 5)})
    text = str(err.value)
    first = text.splitlines()
    assert first[0].startswith("gradients: 0/")
    assert "FAIL mlp-" in text and "loss=" in text and "mass=" in text and "S=4" in text
    assert "worst entry grads/" in text and "rel error 3" in text and "× the tolerance" in text


def test_the_worst_entry_is_located(cases):
    case = next(c for c in cases if c.kind == "mlp" and c.batch > 1)

    def one_entry_off(c):
        g = [(W.copy(), b.copy()) for W, b in gradients(c)]
        g[1][0][0, 1] += 1e-6
        return g

    report = T.compare("gradients", one_entry_off, cases=[case])
    worst = report.results[0].worst
    assert not report.passed
    assert (worst.array, worst.index) == ("grads/2/W", (0, 1))
    assert worst.abs_error == pytest.approx(1e-6, rel=1e-6)
    assert worst.rel_error == pytest.approx(1e-6 / abs(worst.want), rel=1e-6)


def test_a_low_rank_solve_that_drops_the_mass_part_fails(cases):
    """G⁻¹v ≈ pinv(G − M) v: right on the span of the Jacobians, wrong off it."""
    def low_rank(case):
        blocks = metric(case)
        blocks = blocks if isinstance(blocks, dict) else dict(zip(case.modules, blocks))
        out = {}
        for m, G in blocks.items():
            mass = (case.mass if isinstance(case.mass, float) else
                    np.concatenate([case.mass[n].ravel() for n in case.param_names
                                    if n.rsplit("/", 1)[0] == m]))
            out[m] = np.linalg.pinv(G - np.diag(np.broadcast_to(mass, G.shape[0]))) @ case.v[m]
        return out

    report = T.compare("solve", low_rank, cases=cases)
    assert len(report.failures) == len(cases)


def test_an_averaged_mass_fails_only_where_the_mass_varies(cases):
    def mean_mass(case):
        mass = case.mlp_mass if case.kind == "mlp" else case.mass_tree
        if not isinstance(mass, float):
            mass = float(np.mean(np.concatenate([a.ravel() for a in case.mass.values()])))
        if case.kind == "mlp":
            return mlp_riemannian_step(case.mlp_params, case.X, case.targets,
                                       activation=case.activation, loss=case.loss,
                                       output_metric=case.metric_argument, mass=mass,
                                       lr=case.lr)
        return dict(tree.items(build_metric(case.module, case.params_tree, case.X,
                                            case.targets, loss=case.loss,
                                            output_metric=case.metric_argument,
                                            mass=mass).step(case.lr)[0]))

    report = T.compare("update_layer", mean_mass, cases=cases)
    assert {r.case.name for r in report.failures} == \
        {c.name for c in cases if c.mass_kind == "per-parameter"}


def test_float32_does_not_meet_the_tolerances(cases):
    def f32(case):
        return [(W.astype(np.float32), b.astype(np.float32)) for W, b in gradients(case)]

    report = T.compare("gradients", f32, cases=cases, select={"kind": "mlp"})
    assert not report.passed and 1e-9 < report.max_rel_error < 1e-6


# -- what a function may return --------------------------------------------------------------
def test_accepted_return_forms(cases):
    case = next(c for c in cases if c.kind == "composite")
    ref = dict(tree.items(solve(case.module, case.params_tree, case.X, case.targets,
                                case.loss).grads))
    full = {f"grads/{k}": v for k, v in ref.items()}
    for form in (ref, full, list(ref.values()), tuple(ref.values())):
        assert T.compare("gradients", lambda c: form, cases=[case]).passed
    assert T.compare("loss", lambda c: np.array([loss(c)]), cases=[case]).passed


@pytest.mark.parametrize("bad, reason", [
    (lambda c, g: None, "returned None"),
    (lambda c, g: g[:-1], "got 3 arrays, expected 4"),
    (lambda c, g: [g[0].T] + g[1:], "grads/0/W: got shape (3, 4), expected (4, 3)"),
    (lambda c, g: dict(zip(["0/W", "0/b", "2/W", "9/b"], g)), "unexpected key '9/b'"),
    (lambda c, g: dict(zip(["0/W", "0/b", "2/W"], g)), "missing ['2/b']"),
    (lambda c, g: ["x"] + g[1:], "got dtype <U1"),
])
def test_malformed_results_are_failures_with_a_reason(cases, bad, reason):
    case = next(c for c in cases if c.name == "mlp-identity-small-mse-identity-scalar")
    g = [a for pair in gradients(case) for a in pair]
    report = T.compare("gradients", lambda c: bad(c, g), cases=[case])
    assert not report.passed and reason in report.results[0].reason
    assert reason in str(report)


def test_selection(cases):
    picked = T.load_cases(select={"loss": "cross_entropy", "mass_kind": ("tiny", "large")})
    assert picked and all(c.loss == "cross_entropy" and c.mass_kind in ("tiny", "large")
                          for c in picked)
    assert len(T.compare("loss", loss, cases=cases, select=lambda c: c.batch == 1).results) \
        == sum(c.batch == 1 for c in cases)
    with pytest.raises(ValueError, match="matches none"):
        T.load_cases(select={"batch": 1000})
    with pytest.raises(ValueError, match="unknown key"):
        T.load_cases(select={"colour": "red"})
    with pytest.raises(ValueError, match="unknown quantity 'hessian'"):
        T.check("hessian", loss, cases=cases)
    with pytest.raises(ValueError, match="exists only for MLP cases"):
        next(c for c in cases if c.kind == "composite").mlp_params


def test_a_tampered_set_cannot_be_loaded(tmp_path):
    import shutil
    from refimpl.oracle.golden import default_directory, read_manifest
    shutil.copytree(default_directory(), tmp_path / "g")
    entry = next(iter(read_manifest(tmp_path / "g")["cases"].values()))
    path = tmp_path / "g" / entry["file"]
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=path.name):
        T.check_loss(loss, directory=tmp_path / "g")
