"""How a metric system is solved: the choice of method from the blocks' cost estimates, and
the memory check that comes before any large allocation (:ref:`math §4 <math-4>`, cost of eq. 2).

For blocks ``b`` side by side (one module, or all of them for the network scope) with
``q = S·r`` rows and ``n`` parameters in all:

==============  ============================================  ===============================
method          flops                                         memory
==============  ============================================  ===============================
``woodbury``    forming ``K`` + ``q³/3`` (Cholesky)            ``K`` (``q²``) and what forming
                (``r S³/3`` when ``K`` is a Kronecker          it needs (:class:`~refimpl.
                product, :class:`~refimpl.linalg.              modules.BlockCost`)
                KroneckerInner`)
``primal``      forming ``G`` + ``n³/3``                       ``G`` (``n²``)
``cg``          per iteration, one product ``K x``             the product's own needs and a
                                                              few vectors of ``q``
==============  ============================================  ===============================

``method="auto"`` takes the cheaper direct method by flops — unless conjugate gradients are
expected to cost less than ``1/CG_ADVANTAGE`` of it even at ``CG_ITERATIONS`` iterations
(very large batches); if the direct method does not fit in the memory available
(``MemAvailable`` of ``/proc/meminfo``, or ``memory=`` in bytes), the other direct method if
that fits, else ``"cg"``. Whenever it leaves the cheaper direct method it says why in
:attr:`Plan.note`. A direct method asked for by name that does not fit raises
:class:`InsufficientMemoryError` with the estimate and the way out, before anything is
allocated.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..linalg import use_mixed

METHODS = ("auto", "woodbury", "primal", "cg")
#: the share of the available memory one step's systems may take
MEMORY_SHARE = 0.8
#: ``method="auto"`` takes conjugate gradients when ``CG_ITERATIONS`` of their iterations cost
#: less than ``1/CG_ADVANTAGE`` of the cheaper direct method (a pessimistic count: the
#: benchmarks' large batches needed 13–18 iterations at μ = 1)
CG_ITERATIONS = 200
CG_ADVANTAGE = 10.0
_GB = 1e9


class InsufficientMemoryError(MemoryError):
    """A direct solve would need more memory than is available (raised before allocating)."""


@dataclass(frozen=True)
class Plan:
    """The method of one metric system and what it is expected to cost.

    Attributes
    ----------
    method : {"woodbury", "primal", "cg"}
    flops : float
        Expected flops of forming and factorising (``cg``: of one iteration).
    bytes : float
        Expected peak memory of the system.
    note : str
        Why ``method="auto"`` left the cheaper direct method (``""`` otherwise).
    """

    method: str
    flops: float
    bytes: float
    note: str = ""


def available_memory() -> float:
    """Bytes this process may still allocate: ``MemAvailable`` (Linux), else the physical
    memory; ``REFIMPL_MEMORY`` (bytes) overrides both."""
    env = os.environ.get("REFIMPL_MEMORY")
    if env:
        try:
            return float(env)
        except ValueError:
            raise ValueError(f"REFIMPL_MEMORY must be a number of bytes, got {env!r}") from None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def estimate(blocks, masses, method: str, precision: str = "auto") -> Plan:
    """Flops and bytes of ``method`` for blocks side by side (``masses`` parallel to them);
    a Woodbury inner matrix factorised in float32 (``precision``) takes half the bytes."""
    S, r = blocks[0].S, blocks[0].r
    q, n = S * r, sum(b.n for b in blocks)
    costs = [b.cost(m) for b, m in zip(blocks, masses)]
    if method == "woodbury":
        if len(blocks) == 1 and blocks[0].inner_kronecker(masses[0]) is not None:
            return Plan(method, costs[0].inner_flops + r * S ** 3 / 3, 2.0 * S * S * r * 8)
        saved = q * q * 4 if use_mixed(q, precision) and all(
            b.dtype == np.float64 for b in blocks) else 0
        return Plan(method, sum(c.inner_flops for c in costs) + q ** 3 / 3,
                    max(c.inner_bytes for c in costs) - saved + (len(blocks) > 1) * q * q * 8)
    if method == "primal":
        if len(blocks) == 1:
            return Plan(method, costs[0].dense_flops + n ** 3 / 3, costs[0].dense_bytes)
        return Plan(method, n * n * q + 2 * q * n + n ** 3 / 3, (n * n + q * n) * 8)
    return Plan(method, sum(c.matvec_flops for c in costs),
                max(c.matvec_bytes for c in costs) + (6 * q + S * r * r) * 8)


def choose(blocks, masses, method: str, budget: float, what: str = "the metric",
           precision: str = "auto") -> Plan:
    """The :class:`Plan` for ``method`` (``"auto"`` decides), checked against ``budget``
    bytes; see the module docstring."""
    if method != "auto":
        plan = estimate(blocks, masses, method, precision)
        if method != "cg" and plan.bytes > budget:
            raise InsufficientMemoryError(_too_big(plan, budget, what, blocks, masses))
        return plan
    woodbury, primal = (estimate(blocks, masses, m, precision) for m in ("woodbury", "primal"))
    first, second = (woodbury, primal) if woodbury.flops <= primal.flops else (primal, woodbury)
    cg = estimate(blocks, masses, "cg")
    if CG_ADVANTAGE * CG_ITERATIONS * cg.flops < first.flops:
        return Plan("cg", cg.flops, cg.bytes,
                    f"{what}: conjugate gradients (about {cg.flops / 1e9:.2g} GFLOP an "
                    f"iteration) instead of {first.method} ({first.flops / 1e9:.3g} GFLOP): "
                    f"cheaper by more than {CG_ADVANTAGE:g}× even at {CG_ITERATIONS} "
                    "iterations")
    if first.bytes <= budget:
        return first
    if second.bytes <= budget:
        return Plan(second.method, second.flops, second.bytes,
                    f"{what}: {first.method} would need {first.bytes / _GB:.2f} GB, more than "
                    f"the {budget / _GB:.2f} GB available: {second.method} instead")
    return Plan("cg", cg.flops, cg.bytes,
                f"{what}: a direct solve would need {min(first.bytes, second.bytes) / _GB:.2f} "
                f"GB, more than the {budget / _GB:.2f} GB available: conjugate gradients "
                f"(about {cg.bytes / _GB:.2f} GB) instead")


def _too_big(plan, budget, what, blocks, masses) -> str:
    cg = estimate(blocks, masses, "cg")
    S, r = blocks[0].S, blocks[0].r
    return (f"{what}: method={plan.method!r} needs about {plan.bytes / _GB:.2f} GB "
            f"(S·r = {S * r}, n = {sum(b.n for b in blocks)}), more than the "
            f"{budget / _GB:.2f} GB available (what the metric's other systems of this step "
            f"do not take); use method='cg' (matrix-free conjugate "
            f"gradients, about {cg.bytes / _GB:.2f} GB), method='auto', or a smaller batch")
