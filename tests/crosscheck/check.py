"""Compare a framework's autodiff quantities with refimpl on random specs and on the golden set."""
import numpy as np

from crosscheck.architectures import random_cnn_spec, random_spec
from crosscheck.autodiff import quantities
from refimpl.oracle import golden_build
from refimpl.oracle._compare import compare_array
from refimpl.oracle.architecture import from_dict, module_paths, parameter_names

QUANTITY_OF = {"loss": "loss", "grads": "gradients", "multipliers": "multipliers",
               "metric": "metric", "metric_network": "metric_network", "solve": "solve",
               "update_layer": "update_layer", "update_network": "update_network"}


def check_random_case(fw, seed, record, family="any"):
    """refimpl (golden_build.compute) against ``fw`` for one random spec (``family="cnn"``: a
    random convolutional network); every array within the golden tolerance rule, plus
    refimpl's factor-pass metric against ``fw``'s dense one."""
    spec = random_cnn_spec(seed) if family == "cnn" else random_spec(seed)
    module = from_dict(spec["architecture"])
    inputs = golden_build.make_inputs(spec)
    want, info = golden_build.compute(spec, inputs)
    tol = golden_build.tolerances(spec, want, info, module)
    got = quantities(fw, spec["architecture"], [n for n, _ in parameter_names(module)],
                     module_paths(module), inputs, spec["loss"], spec["output_metric"],
                     module.out_space)
    where = f"seed {seed}: {spec['family']}, {spec['loss']}, {spec['output_metric']}, " \
            f"mass {spec['mass']}, S={spec['batch']}"
    failures = []
    for q, rows in tol.items():
        for row in rows:
            worst, rel = compare_array(row["name"], got[row["name"]], want[row["name"]],
                                       row["rtol"], row["atol"])
            record(fw.name, q, rel, where)
            if worst.ratio > 1:
                failures.append(str(worst))
    for m, G in info["dense"]["metric_factor"].items():
        name = f"metric/{m}" if m else "metric"
        row = next(r for r in tol["metric"] if r["name"] == name)
        worst, rel = compare_array(name + " (factor pass)", G, got[name], row["rtol"],
                                   row["atol"])
        record(fw.name, "metric (factor)", rel, where)
        if worst.ratio > 1:
            failures.append(str(worst))
    assert not failures, f"{fw.name} vs refimpl, {where}:\n" + "\n".join(failures)


def golden_quantity_fn(fw, quantity, cache):
    """``fn(case)`` for :mod:`refimpl.oracle.testing`: the framework's values of a quantity."""
    def fn(case):
        if case.name not in cache:
            cache[case.name] = quantities(fw, case.architecture, case.param_names,
                                          case.modules, case.arrays, case.loss,
                                          case.output_metric, case.output_dim)
        return {r["name"]: cache[case.name][r["name"]] for r in case.rows(quantity)}
    return fn


def max_abs(arrays):
    return max(float(np.max(np.abs(a))) for a in arrays)
