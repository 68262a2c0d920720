"""Run a JSON architecture (refimpl.oracle.architecture) in another array framework.

``build(desc, ops)`` returns ``forward(x, params, probes)`` for any framework whose arrays
support ``@``, ``+``, ``.T`` and ``.reshape``; ``ops`` supplies ``cat`` (concatenate along the
last axis), ``act[name]`` (the activations) and the image operations ``conv2d(x, W, stride,
padding)`` (NCHW, OIHW, zero padding), ``max_pool2d(x, kernel, stride, padding)`` and
``avg_pool2d(x, kernel, stride, padding)`` (padding counted in the mean), each the
framework's own. ``params`` maps parameter names (``"1/0/W"``) to arrays; ``probes`` maps
module paths to arrays added to that Linear's or Conv2d's output ``z`` (zeros, so that
``∂R/∂probe`` gives the multipliers ``λ = ∂ℓ_s/∂z_s`` up to the factor ``1/S``).
Written from the format's description alone: no refimpl code runs here.
"""


def output_shape(desc):
    """The shape of one output of a ``Linear`` or ``Conv2d`` description (its probe)."""
    if desc["type"] == "Linear":
        return (desc["n_out"],)
    (h, w), (kh, kw) = desc["input_size"], desc["kernel_size"]
    (sh, sw), (ph, pw) = desc["stride"], desc["padding"]
    return (desc["out_channels"], (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)


def parameter_owners(desc, path=""):
    """``{module path: description}`` of the modules that own parameters."""
    if desc["type"] in ("Linear", "Conv2d"):
        return {path: desc}
    out = {}
    for i, child in enumerate(desc.get("children", [])):
        out.update(parameter_owners(child, _join(path, i)))
    return out


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
    if kind == "Conv2d":
        bias, stride, padding = desc["bias"], tuple(desc["stride"]), tuple(desc["padding"])

        def conv(x, params, probes):
            z = ops.conv2d(x, params[_join(path, "W")], stride, padding)
            if bias:
                z = z + params[_join(path, "b")].reshape(-1, 1, 1)
            if path in probes:
                z = z + probes[path]
            return z
        return conv
    if kind in ("MaxPool2d", "AvgPool2d"):
        pool = ops.max_pool2d if kind == "MaxPool2d" else ops.avg_pool2d
        k, st, pad = (tuple(desc["kernel_size"]), tuple(desc["stride"]),
                      tuple(desc.get("padding", [0, 0])))
        return lambda x, params, probes: pool(x, k, st, pad)
    if kind == "Flatten":
        return lambda x, params, probes: x.reshape(x.shape[0], -1)
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
