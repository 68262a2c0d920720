"""How many modules' metrics a step builds and solves at the same time (:ref:`math §6 <math-6>`: the layer
metric is block diagonal, so each module's system is independent).

In parallel, every matrix product runs on one core (BLAS single-threaded, see
:mod:`refimpl._threads`): the chain of forward, backward and factor passes (one module after
the other) gets slower, while each module's metric work overlaps with the others'. That pays
when two or more modules have inner systems whose factorisation (``(S·r)³/3``) is at least
``PARALLEL_SHARE`` of the chain's ``S (6 + 2r) n_params`` flops; the last module is not
counted (under a constant output metric its system is a cheap Kronecker product). Measured
in ``benchmarks/README.md``.
"""
from __future__ import annotations

import numpy as np

from .. import _threads

#: layer parallelism when one ``S·r`` Cholesky costs at least this share of the chain
PARALLEL_SHARE = 0.25


def check_threads(threads) -> None:
    """``threads`` is ``None`` or a positive int (else a ValueError naming what arrived)."""
    if threads is not None and (isinstance(threads, (bool, np.bool_)) or not isinstance(
            threads, (int, np.integer)) or threads < 1):
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")


def resolve_threads(model, S: int, scope: str, threads) -> int:
    """The threads a step on ``S`` samples uses: 1 for ``scope="network"``, ``threads`` if
    given, else :func:`parallel_threads`."""
    if scope != "layer":
        return 1
    if threads is not None:
        return int(threads)
    return parallel_threads(model, S)


def parallel_threads(model, S: int) -> int:
    """The default thread count of a step (``threads=None``): one thread per core, at most
    one per counted module, when the rule of the module docstring says parallelism pays;
    otherwise 1 (BLAS keeps its own threads). Only in the main thread, where BLAS can be
    limited to one thread (:func:`refimpl._threads.single_threaded_blas`)."""
    cores = _threads.cores()
    if cores < 2 or not isinstance(model.out_space, int) or not _threads.can_limit_blas():
        return 1
    counts = _module_param_counts(model.param_shapes())
    heavy = len(counts) - 1
    if heavy < 2:
        return 1
    r = model.out_space
    chain = S * (6 + 2 * r) * sum(counts)
    return min(cores, heavy) if (S * r) ** 3 / 3 >= PARALLEL_SHARE * chain else 1


def _module_param_counts(shapes: dict) -> list:
    """Parameter count of each module that has parameters (a node whose leaves are shapes)."""
    leaves = [v for v in shapes.values() if not isinstance(v, dict)]
    out = [sum(int(np.prod(v)) for v in leaves)] if leaves else []
    for v in shapes.values():
        if isinstance(v, dict):
            out += _module_param_counts(v)
    return out
