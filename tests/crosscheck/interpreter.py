"""Run a JSON architecture (refimpl.oracle.architecture) in another array framework.

``build(desc, ops)`` returns ``forward(x, params, probes)`` for any framework whose arrays
support ``@``, ``+`` and ``.T``; ``ops`` supplies ``cat`` (concatenate along the last axis) and
``act[name]`` (the activations). ``params`` maps parameter names (``"1/0/W"``) to arrays;
``probes`` maps module paths to arrays added to that Linear's output ``z`` (zeros, so that
``∂R/∂probe`` gives the multipliers ``λ = ∂ℓ_s/∂z_s`` up to the factor ``1/S``).
Written from the format's description alone: no refimpl code runs here.
"""


def _join(path, key):
    return f"{path}/{key}" if path else str(key)


def _flat(x):
    if isinstance(x, tuple):
        return [a for part in x for a in _flat(part)]
    return [x]


def build(desc, ops, path=""):
    kind = desc["type"]
    if kind == "Linear":
        bias = desc.get("bias", True)

        def linear(x, params, probes):
            z = x @ params[_join(path, "W")].T
            if bias:
                z = z + params[_join(path, "b")]
            if path in probes:
                z = z + probes[path]
            return z
        return linear
    if kind == "Pointwise":
        sigma = ops.act[desc["activation"]]
        return lambda x, params, probes: sigma(x)
    if kind == "Identity":
        return lambda x, params, probes: x
    if kind == "FanOut":
        n = desc.get("n", 2)
        return lambda x, params, probes: (x,) * n
    if kind == "Sum":
        def total(x, params, probes):
            out = x[0]
            for part in x[1:]:
                out = out + part
            return out
        return total
    if kind == "Concat":
        return lambda x, params, probes: ops.cat(_flat(x))
    children = [build(c, ops, _join(path, i)) for i, c in enumerate(desc["children"])]
    if kind == "Sequential":
        def sequential(x, params, probes):
            for child in children:
                x = child(x, params, probes)
            return x
        return sequential
    if kind == "Parallel":
        return lambda x, params, probes: tuple(child(xi, params, probes)
                                               for child, xi in zip(children, x))
    raise ValueError(f"unknown module type {kind!r}")
