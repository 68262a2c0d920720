"""A small JSON format for module architectures, read back into :mod:`refimpl.modules`.

The golden vectors (:mod:`refimpl.oracle.golden`) describe every case's network in this format,
so a backend in any language can rebuild the same network. A description is a JSON object
with a ``"type"`` and the fields of that type. A *space* is a positive integer ``d`` (``R^d``),
an object ``{"shape": [n_1, …, n_k]}`` (``k ≥ 2``: arrays of that shape, e.g. images
``[C, H, W]``; :class:`refimpl.spaces.Shape`) or a list of spaces (their product,
:mod:`refimpl.spaces`). Images are batched NCHW: a batch of inputs of ``R^{C×H×W}`` is
``(S, C, H, W)``.

===============  ===================================================  ==========================
type             fields                                               map (per sample)
===============  ===================================================  ==========================
``Linear``       ``n_in``, ``n_out`` (ints), ``bias`` (bool)          ``z = W a + b``, ``W`` is
                                                                      ``(n_out, n_in)``
``Pointwise``    ``activation`` (name), ``dim`` (int, or a shape      ``z = σ(a)`` elementwise
                 list ``[C, H, W]``)
``Conv2d``       ``in_channels``, ``out_channels``, ``kernel_size``   ``y[o,u,v] = b[o] +``
                 ``[kh, kw]``, ``stride`` ``[sh, sw]``, ``padding``   ``Σ W[o,c,i,j] x_pad[c,``
                 ``[ph, pw]`` (zeros, both sides), ``bias`` (bool),   ``sh·u+i, sw·v+j]``
                 ``input_size`` ``[H, W]``                            (PyTorch's ``conv2d``);
                                                                      ``W`` is
                                                                      ``(C_out, C_in, kh, kw)``
``MaxPool2d``    ``channels``, ``kernel_size`` ``[kh, kw]``,          max over each window;
                 ``stride`` ``[sh, sw]``, ``input_size`` ``[H, W]``;  ties: the first maximum in
                 optional ``padding`` ``[ph, pw]`` (``−∞``, default   row-major window order
                 ``[0, 0]``)
``AvgPool2d``    as ``MaxPool2d``; padding counts as zeros            mean over each window
``Flatten``      ``shape`` ``[C, H, W]``                              C-order ``vec(x)``
``Identity``     ``space``                                            ``x ↦ x``
``FanOut``       ``space``, ``n`` (int ≥ 1)                           ``x ↦ (x, …, x)``
``Sum``          ``space``, ``n`` (int ≥ 1)                           ``(x_1, …, x_n) ↦ Σ x_i``
``Concat``       ``spaces`` (list of spaces)                          ``(x_1, …) ↦ [x_1, …]``
``Sequential``   ``children`` (list of descriptions)                  ``children[0]`` first
``Parallel``     ``children`` (list of descriptions)                  ``(x_i) ↦ (F_i(x_i))``
===============  ===================================================  ==========================

Output sizes of the window types are ``H' = ⌊(H + 2ph − kh)/sh⌋ + 1`` (likewise ``W'``); the
next module's fields must agree with them (checked when the description is read).

Parameter names follow the module tree (:mod:`refimpl.tree`): a composite's children are
``"0"``, ``"1"``, … in list order, a ``Linear``'s or ``Conv2d``'s leaves are ``"W"`` then
``"b"``, joined with ``/`` (``"1/0/W"``). The flat parameter order is depth-first in that
order, each array in C order. A document written by :func:`to_json` is ``{"format":
"refimpl-architecture", "version": 2, "module": …}``; :func:`from_json` also reads version 1
(the same format without the image types and image spaces) and a bare module description.

Examples
--------
>>> from refimpl.modules import mlp
>>> from refimpl.oracle.architecture import from_json, to_json
>>> net = from_json(to_json(mlp([3, 4, 2], "tanh")))
>>> net
Sequential(Linear(3 → 4), Pointwise('tanh', 4), Linear(4 → 2))
"""
from __future__ import annotations

import json

import numpy as np

from ..modules import (ACTIVATIONS, AvgPool2d, Concat, Conv2d, FanOut, Flatten, Identity,
                       Linear, MaxPool2d, Module, Parallel, Pointwise, Sequential, Sum)
from ..spaces import Shape

FORMAT = "refimpl-architecture"
VERSION = 2
READS = (1, 2)

#: type name → (required fields, optional fields with defaults)
FIELDS = {
    "Linear": (("n_in", "n_out"), {"bias": True}),
    "Pointwise": (("activation", "dim"), {}),
    "Identity": (("space",), {}),
    "FanOut": (("space",), {"n": 2}),
    "Sum": (("space",), {"n": 2}),
    "Concat": (("spaces",), {}),
    "Sequential": (("children",), {}),
    "Parallel": (("children",), {}),
    "Conv2d": (("in_channels", "out_channels", "kernel_size", "stride", "padding", "bias",
                "input_size"), {}),
    "MaxPool2d": (("channels", "kernel_size", "stride", "input_size"), {"padding": [0, 0]}),
    "AvgPool2d": (("channels", "kernel_size", "stride", "input_size"), {"padding": [0, 0]}),
    "Flatten": (("shape",), {}),
}
#: types that need version 2
IMAGE_TYPES = ("Conv2d", "MaxPool2d", "AvgPool2d", "Flatten")


# -- module → description -------------------------------------------------------------------
def to_dict(module: Module) -> dict:
    """The JSON-ready description of ``module`` (see the module docstring)."""
    if isinstance(module, (Sequential, Parallel)):
        return {"type": type(module).__name__,
                "children": [to_dict(m) for m in module.children.values()]}
    if isinstance(module, Linear):
        return {"type": "Linear", "n_in": module.in_space, "n_out": module.out_space,
                "bias": module.bias}
    if isinstance(module, Pointwise):
        dim = module.in_space
        return {"type": "Pointwise", "activation": module.activation,
                "dim": dim if isinstance(dim, int) else list(dim.shape)}
    if isinstance(module, Conv2d):
        return {"type": "Conv2d", "in_channels": module.in_channels,
                "out_channels": module.out_channels, "kernel_size": list(module.kernel),
                "stride": list(module.stride), "padding": list(module.padding),
                "bias": module.bias, "input_size": list(module.size)}
    if isinstance(module, (MaxPool2d, AvgPool2d)):
        out = {"type": type(module).__name__, "channels": module.channels,
               "kernel_size": list(module.kernel), "stride": list(module.stride),
               "input_size": list(module.size)}
        return out | ({"padding": list(module.padding)} if any(module.padding) else {})
    if isinstance(module, Flatten):
        return {"type": "Flatten", "shape": list(module.in_space.shape)}
    if isinstance(module, Identity):
        return {"type": "Identity", "space": _space_out(module.in_space)}
    if isinstance(module, FanOut):
        return {"type": "FanOut", "space": _space_out(module.in_space), "n": module.n}
    if isinstance(module, Sum):
        return {"type": "Sum", "space": _space_out(module.out_space), "n": module.n}
    if isinstance(module, Concat):
        return {"type": "Concat", "spaces": [_space_out(s) for s in module.in_space]}
    raise TypeError(f"to_dict: {type(module).__name__} has no JSON description; the format "
                    "covers " + ", ".join(FIELDS))


def to_json(module: Module, *, indent: int | None = None) -> str:
    """``module`` as a JSON document ``{"format", "version", "module"}``."""
    return json.dumps({"format": FORMAT, "version": VERSION, "module": to_dict(module)},
                      indent=indent)


def _space_out(space):
    if isinstance(space, int):
        return space
    if isinstance(space, Shape):
        return {"shape": list(space.shape)}
    return [_space_out(s) for s in space]


# -- description → module -------------------------------------------------------------------
def from_dict(desc, where: str = "module", *, version: int = VERSION) -> Module:
    """Build the module a description names; errors give the path of the bad entry.

    ``version`` is the document's format version: version 1 has no image types."""
    if not isinstance(desc, dict):
        raise ValueError(f"{where}: expected an object with a \"type\", got "
                         f"{type(desc).__name__}")
    kind = desc.get("type")
    if kind not in FIELDS:
        raise ValueError(f"{where}: unknown type {kind!r}; expected one of "
                         + ", ".join(FIELDS))
    if version < 2 and kind in IMAGE_TYPES:
        raise ValueError(f"{where}: type {kind!r} needs format version 2 (this document is "
                         f"version {version}); write \"version\": 2")
    required, optional = FIELDS[kind]
    missing = [f for f in required if f not in desc]
    if missing:
        raise ValueError(f"{where} ({kind}): missing field(s) " + ", ".join(missing)
                         + "; required: " + ", ".join(required))
    extra = sorted(set(desc) - {"type", *required, *optional})
    if extra:
        raise ValueError(f"{where} ({kind}): unknown field(s) " + ", ".join(extra)
                         + "; allowed: " + ", ".join((*required, *optional)))
    f = {**optional, **{k: v for k, v in desc.items() if k != "type"}}
    try:
        return _build(kind, f, where, version)
    except (ValueError, TypeError) as exc:
        if str(exc).startswith(where):
            raise
        raise ValueError(f"{where} ({kind}): {exc}") from None


def _build(kind, f, where, version):
    if kind in ("Sequential", "Parallel"):
        children = f["children"]
        if not isinstance(children, list) or not children:
            raise ValueError(f"{where} ({kind}): children must be a non-empty list")
        mods = [from_dict(c, f"{where}/{i}", version=version) for i, c in enumerate(children)]
        return Sequential(*mods) if kind == "Sequential" else Parallel(*mods)
    if kind == "Linear":
        if not isinstance(f["bias"], bool):
            raise ValueError(f"{where} (Linear): bias must be true or false, "
                             f"got {f['bias']!r}")
        return Linear(_int(f["n_in"], "n_in"), _int(f["n_out"], "n_out"), bias=f["bias"])
    if kind == "Pointwise":
        if f["activation"] not in ACTIVATIONS:
            raise ValueError(f"{where} (Pointwise): unknown activation {f['activation']!r}; "
                             "expected one of " + ", ".join(ACTIVATIONS))
        dim = _shape(f["dim"], "dim") if isinstance(f["dim"], list) and version >= 2 \
            else _int(f["dim"], "dim")
        return Pointwise(f["activation"], dim)
    if kind == "Conv2d":
        if not isinstance(f["bias"], bool):
            raise ValueError(f"{where} (Conv2d): bias must be true or false, "
                             f"got {f['bias']!r}")
        return Conv2d(_int(f["in_channels"], "in_channels"),
                      _int(f["out_channels"], "out_channels"),
                      _pair(f["kernel_size"], "kernel_size"), _pair(f["stride"], "stride"),
                      _pair(f["padding"], "padding", minimum=0), bias=f["bias"],
                      input_size=_pair(f["input_size"], "input_size"))
    if kind in ("MaxPool2d", "AvgPool2d"):
        cls = MaxPool2d if kind == "MaxPool2d" else AvgPool2d
        return cls(_pair(f["kernel_size"], "kernel_size"), _pair(f["stride"], "stride"),
                   _pair(f["padding"], "padding", minimum=0),
                   channels=_int(f["channels"], "channels"),
                   input_size=_pair(f["input_size"], "input_size"))
    if kind == "Flatten":
        return Flatten(_shape(f["shape"], "shape"))
    if kind == "Identity":
        return Identity(_space_in(f["space"], "space", version))
    if kind in ("FanOut", "Sum"):
        cls = FanOut if kind == "FanOut" else Sum
        return cls(_space_in(f["space"], "space", version), _int(f["n"], "n"))
    if not isinstance(f["spaces"], list) or not f["spaces"]:
        raise ValueError(f"{where} (Concat): spaces must be a non-empty list of spaces")
    return Concat(*(_space_in(s, f"spaces[{i}]", version) for i, s in enumerate(f["spaces"])))


def _int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _pair(value, name, minimum=1):
    if not isinstance(value, list) or len(value) != 2 or any(
            isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum
            for v in value):
        raise ValueError(f"{name} must be a list of two integers ≥ {minimum}, got {value!r}")
    return int(value[0]), int(value[1])


def _shape(value, name):
    if not isinstance(value, list) or len(value) < 2:
        raise ValueError(f"{name} must be a list of at least two positive integers (the shape "
                         f"of one point, e.g. [C, H, W]), got {value!r}")
    return Shape(*(_int(v, f"{name}[{i}]") for i, v in enumerate(value)))


def _space_in(value, name, version=VERSION):
    if isinstance(value, list):
        if not value:
            raise ValueError(f"{name} must be a positive integer or a non-empty list of "
                             "spaces, got []")
        return tuple(_space_in(v, f"{name}[{i}]", version) for i, v in enumerate(value))
    if isinstance(value, dict) and version >= 2:
        if set(value) != {"shape"}:
            raise ValueError(f"{name} must be {{\"shape\": [n_1, …]}} for an array space, got "
                             f"{value!r}")
        return _shape(value["shape"], f"{name}.shape")
    return _int(value, name)


def from_json(text) -> Module:
    """Build a module from a JSON document (:func:`to_json`) or a bare description.

    ``text`` is a JSON string or an already-parsed ``dict``. Raises ``ValueError`` naming the
    offending entry (``module/1/0``) when the description is malformed or inconsistent.
    """
    if isinstance(text, (str, bytes)):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"architecture is not valid JSON: {exc}") from None
    else:
        doc = text
    if isinstance(doc, dict) and "format" in doc:
        if doc["format"] != FORMAT:
            raise ValueError(f"architecture format is {doc['format']!r}, expected {FORMAT!r}")
        version = doc.get("version")
        if isinstance(version, bool) or version not in READS:
            raise ValueError(f"architecture version {version!r} is not supported "
                             f"(this refimpl reads versions "
                             + ", ".join(map(str, READS)) + ")")
        if "module" not in doc:
            raise ValueError("architecture document has no \"module\" entry")
        return from_dict(doc["module"], version=version)
    return from_dict(doc)


def parameter_names(module: Module) -> list[tuple[str, tuple]]:
    """``(name, shape)`` of every parameter array, in the flat order."""
    from .. import tree
    return [(p, tuple(s)) for p, s in tree.items(module.param_shapes())]


def module_paths(module: Module) -> list[str]:
    """Paths of the modules that own parameters (the metric's blocks), in the flat order."""
    out = []
    for name, _ in parameter_names(module):
        path = name.rsplit("/", 1)[0] if "/" in name else ""
        if not out or out[-1] != path:
            out.append(path)
    return out
