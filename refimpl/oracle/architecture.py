"""A small JSON format for module architectures, read back into :mod:`refimpl.modules`.

The golden vectors (:mod:`refimpl.oracle.golden`) describe every case's network in this format,
so a backend in any language can rebuild the same network. A description is a JSON object
with a ``"type"`` and the fields of that type; spaces are a positive integer ``d`` (``R^d``)
or a list of spaces (their product, :mod:`refimpl.spaces`):

===============  ===================================================  ==========================
type             fields                                               map (per sample)
===============  ===================================================  ==========================
``Linear``       ``n_in``, ``n_out`` (ints), ``bias`` (bool)          ``z = W a + b``, ``W`` is
                                                                      ``(n_out, n_in)``
``Pointwise``    ``activation`` (name), ``dim`` (int)                 ``z = σ(a)`` elementwise
``Identity``     ``space``                                            ``x ↦ x``
``FanOut``       ``space``, ``n`` (int ≥ 1)                           ``x ↦ (x, …, x)``
``Sum``          ``space``, ``n`` (int ≥ 1)                           ``(x_1, …, x_n) ↦ Σ x_i``
``Concat``       ``spaces`` (list of spaces)                          ``(x_1, …) ↦ [x_1, …]``
``Sequential``   ``children`` (list of descriptions)                  ``children[0]`` first
``Parallel``     ``children`` (list of descriptions)                  ``(x_i) ↦ (F_i(x_i))``
===============  ===================================================  ==========================

Parameter names follow the module tree (:mod:`refimpl.tree`): a composite's children are
``"0"``, ``"1"``, … in list order, a ``Linear``'s leaves are ``"W"`` then ``"b"``, joined with
``/`` (``"1/0/W"``). The flat parameter order is depth-first in that order, each array in C
order. A document written by :func:`to_json` is ``{"format": "refimpl-architecture",
"version": 1, "module": …}``; :func:`from_json` also accepts a bare module description.

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

from ..modules import (ACTIVATIONS, Concat, FanOut, Identity, Linear, Module, Parallel,
                       Pointwise, Sequential, Sum)

FORMAT = "refimpl-architecture"
VERSION = 1

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
}


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
        return {"type": "Pointwise", "activation": module.activation, "dim": module.in_space}
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
    return space if isinstance(space, int) else [_space_out(s) for s in space]


# -- description → module -------------------------------------------------------------------
def from_dict(desc, where: str = "module") -> Module:
    """Build the module a description names; errors give the path of the bad entry."""
    if not isinstance(desc, dict):
        raise ValueError(f"{where}: expected an object with a \"type\", got "
                         f"{type(desc).__name__}")
    kind = desc.get("type")
    if kind not in FIELDS:
        raise ValueError(f"{where}: unknown type {kind!r}; expected one of "
                         + ", ".join(FIELDS))
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
        return _build(kind, f, where)
    except (ValueError, TypeError) as exc:
        if str(exc).startswith(where):
            raise
        raise ValueError(f"{where} ({kind}): {exc}") from None


def _build(kind, f, where):
    if kind in ("Sequential", "Parallel"):
        children = f["children"]
        if not isinstance(children, list) or not children:
            raise ValueError(f"{where} ({kind}): children must be a non-empty list")
        mods = [from_dict(c, f"{where}/{i}") for i, c in enumerate(children)]
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
        return Pointwise(f["activation"], _int(f["dim"], "dim"))
    if kind == "Identity":
        return Identity(_space_in(f["space"], "space"))
    if kind in ("FanOut", "Sum"):
        cls = FanOut if kind == "FanOut" else Sum
        return cls(_space_in(f["space"], "space"), _int(f["n"], "n"))
    if not isinstance(f["spaces"], list) or not f["spaces"]:
        raise ValueError(f"{where} (Concat): spaces must be a non-empty list of spaces")
    return Concat(*(_space_in(s, f"spaces[{i}]") for i, s in enumerate(f["spaces"])))


def _int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _space_in(value, name):
    if isinstance(value, list):
        if not value:
            raise ValueError(f"{name} must be a positive integer or a non-empty list of "
                             "spaces, got []")
        return tuple(_space_in(v, f"{name}[{i}]") for i, v in enumerate(value))
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
        if doc.get("version") != VERSION:
            raise ValueError(f"architecture version {doc.get('version')!r} is not supported "
                             f"(this refimpl reads version {VERSION})")
        if "module" not in doc:
            raise ValueError("architecture document has no \"module\" entry")
        doc = doc["module"]
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
