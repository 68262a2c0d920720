"""Adaptive damping: the Levenberg–Marquardt rule (Martens 2010 §4.1; Martens & Grosse 2015
§6.5; the defaults of kfac-jax; Nielsen 1999 for consecutive rejections).

A metric optimizer's step ``Δ = −η G⁻¹ ∇R`` with ``G = μ I + C`` (``C`` the curvature: the
pull-back of the output metric, layerwise or over the whole network) minimises the quadratic
model of the batch risk

    m(Δ) = ∇Rᵀ Δ + ½ Δᵀ C Δ          (``include_damping=True``: ``½ Δᵀ G Δ``)

when ``η = 1``. The rule compares the decrease the model predicts with the actual decrease
of the same batch's risk,

    ρ = (R(w + Δ) − R(w)) / m(Δ),

and trusts the model more (``μ ← ω μ``) when ``ρ > upper`` (0.75), less (``μ ← μ / ω``) when
``ρ < lower`` (0.25; also when ``ρ`` is not finite), with ``ω = decay**interval`` applied every
``interval`` steps (0.9⁵ ≈ 0.59 every 5 steps), ``μ`` kept in ``[min_value, max_value]``.

With ``reject=True`` the rule is a trust-region test at every step: a step with
``ρ < lower`` — a poor model of the batch risk, a rise of the risk (``ρ < 0``) or a risk that
is not finite included — is *rejected*: not taken (the parameters stay). A rejection raises
``μ`` at once by the factor ``ν``, which starts at ``1/ω`` and grows by ``escalation`` (2)
with every further rejection in a row, and returns to ``1/ω`` on the next step taken —
Nielsen's rule for Marquardt's parameter (``μ ← νμ, ν ← 2ν`` on a rejection), so that a ``μ``
far too small is corrected in a few steps, not in ``log(μ*/μ)/log(1/ω)`` (from ``μ = 0.01``
to ``5``: 4 rejections instead of 12). ``μ`` is lowered only every ``interval`` steps and only
if every ``ρ`` since the last adjustment exceeded ``upper`` — the trust-region asymmetry (act
on a poor model at once, on a good one only when it has been good throughout). With
``retries = k > 0`` a rejected step is solved again on the same batch with the raised ``μ``,
up to ``k`` times (the inner loop of the classical Levenberg–Marquardt method): no batch is
skipped, at the cost of one more metric on the batch per retry (the forward, backward and
factor passes are kept). ``"adaptive-reject"`` is this rule with ``retries=4``; measured on
the shipped MNIST subset in ``benchmarks/README.md`` (section *Adaptive damping*).

The model's curvature term needs no extra product: ``u = G⁻¹∇R`` solves ``G u = ∇R`` (to the
residual the step reports, about 1e-14 relative), so ``Δᵀ G Δ = η² ∇Rᵀu = −η ∇RᵀΔ`` and
``Δᵀ C Δ = Δᵀ G Δ − μ ‖Δ‖²``. The actual decrease costs one forward pass on the batch.

The rule's state (:meth:`LevenbergMarquardt.init`) is the current ``μ``, the smallest ``ρ``
since the last adjustment and the factor ``ν`` of the next rejection: float64 scalars in the
optimizer's slots, so checkpoints keep them and a resumed run continues bit for bit. Each step
reports ``damping`` (the ``μ`` of the step taken, or of the last one tried), ``rho`` (NaN on
steps that did not measure it), ``new_loss``, ``rejected`` (the step finally not taken) and
``retries`` (the solves after the first). :class:`~refimpl.optim.KFAC` uses the same rule on
its Tikhonov ``λ``, with its own Kronecker-factored curvature in the model.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .. import tree
from ..backprop import forward_pass

#: re-solves of a rejected step under ``damping="adaptive-reject"``: from ``μ = 0.01`` the
#: escalating raises (ν = 1/ω, 2/ω, …) reach ``μ ≈ 9`` in 5 attempts
ADAPTIVE_REJECT_RETRIES = 4


@dataclass(frozen=True)
class LevenbergMarquardt:
    """The rule's settings (see the module docstring); validated on construction.

    Parameters
    ----------
    decay : float in (0, 1)
        ``ω = decay**interval`` multiplies or divides ``μ``.
    interval : int ≥ 1
        Steps between adjustments (with ``reject=True`` every step measures ``ρ`` and raises
        ``μ`` when ``ρ < lower``; ``μ`` is lowered only every ``interval`` steps).
    lower, upper : float, ``lower < upper``
        The thresholds on ``ρ``.
    min_value, max_value : float, ``0 < min_value ≤ max_value``
        Bounds on ``μ``.
    reject : bool
        Measure ``ρ`` at every step and do not take steps with ``ρ < lower``.
    include_damping : bool
        Use ``G`` instead of ``C = G − μI`` in the model (kfac-jax's
        ``include_damping_in_quad_change``).
    escalation : float ≥ 1
        Growth of the raise factor ``ν`` over consecutive rejected steps (Nielsen: 2; 1
        raises by ``1/ω`` on every rejection).
    retries : int ≥ 0
        Solves again, on the same batch with the raised ``μ``, after a rejection (needs
        ``reject=True``).
    """

    decay: float = 0.9
    interval: int = 5
    lower: float = 0.25
    upper: float = 0.75
    min_value: float = 1e-8
    max_value: float = 1e8
    reject: bool = False
    include_damping: bool = False
    escalation: float = 2.0
    retries: int = 0

    def __post_init__(self):
        _real(self.decay, "decay")
        if not 0.0 < self.decay < 1.0:
            raise ValueError(f"damping decay must be in (0, 1), got {self.decay!r}")
        for name, least in (("interval", 1), ("retries", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value < least:
                raise ValueError(f"damping {name} must be an int ≥ {least}, got {value!r}")
        for name in ("lower", "upper", "min_value", "max_value", "escalation"):
            _real(getattr(self, name), name)
        if not self.lower < self.upper:
            raise ValueError(f"damping thresholds need lower < upper, got lower={self.lower!r}, "
                             f"upper={self.upper!r}")
        if not 0.0 < self.min_value <= self.max_value < np.inf:
            raise ValueError("damping bounds need 0 < min_value ≤ max_value < inf, got "
                             f"min_value={self.min_value!r}, max_value={self.max_value!r}")
        if not self.escalation >= 1.0:
            raise ValueError(f"damping escalation must be ≥ 1, got {self.escalation!r}")
        for name in ("reject", "include_damping"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"damping {name} must be True or False, "
                                f"got {getattr(self, name)!r}")
        if self.retries and not self.reject:
            raise ValueError("damping retries re-solve rejected steps: they need reject=True")

    @property
    def factor(self) -> float:
        """``ω = decay**interval``."""
        return float(self.decay) ** int(self.interval)

    def describe(self) -> str:
        extra = "".join([", reject" if self.reject else "",
                         f", ν×{self.escalation:g}" if self.reject and self.escalation != 1
                         else "", f", {self.retries} retries" if self.retries else ""])
        return (f"adaptive (LM: ω={self.decay:g}^{self.interval}, ρ thresholds "
                f"{self.lower:g}/{self.upper:g}, bounds [{self.min_value:g}, "
                f"{self.max_value:g}]{extra})")

    # -- state ------------------------------------------------------------------------------
    def init(self, value: float) -> dict:
        """The slots entry: ``μ`` (which must lie within the bounds), the smallest ``ρ`` since
        the last adjustment and the next rejection's factor ``ν``, as float64 0-d arrays."""
        if not self.min_value <= value <= self.max_value:
            raise ValueError(f"the initial damping {value!r} lies outside the bounds "
                             f"[{self.min_value!r}, {self.max_value!r}] of the adaptive rule")
        return _slot(value, np.inf, 1.0 / self.factor)

    def measures(self, step: int) -> bool:
        """Whether step ``step`` (0-based) measures ``ρ``."""
        return self.reject or step % self.interval == 0

    # -- the rule ---------------------------------------------------------------------------
    def review(self, step: int, slot: dict, old_loss: float, new_loss: float,
               predicted: float) -> tuple[dict, float, bool]:
        """``(next slot, ρ, rejected)`` after a step at ``step`` with the state ``slot``
        (:meth:`init`'s form).

        ``predicted`` is ``m(Δ)`` (negative for a descent step), ``new_loss`` the batch risk
        at ``w + Δ``. The next slot's ``worst`` is the smallest ``ρ`` including this one; the
        caller resets it (:func:`adapt`) once the adjustment step is over.
        """
        value, worst, nu = (float(slot[k]) for k in ("value", "worst", "nu"))
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            rho = (new_loss - old_loss) / predicted if predicted < 0 else -np.inf
        rho = float(rho) if np.isfinite(rho) else -np.inf
        rejected = bool(self.reject and rho < self.lower)
        worst = min(worst, rho)
        if rejected:                                   # (reject=True) Nielsen's raise
            value, nu = value * nu, nu * self.escalation
        else:
            nu = 1.0 / self.factor
            if rho < self.lower and step % self.interval == 0:        # (reject=False)
                value = value / self.factor
            elif worst > self.upper and step % self.interval == 0:
                value = value * self.factor
        value = float(np.clip(value, self.min_value, self.max_value))
        return _slot(value, worst, nu), rho, rejected


def get_damping(damping):
    """``None`` (fixed damping) from ``None``/``"fixed"``; a :class:`LevenbergMarquardt` from
    ``"adaptive"`` (its defaults), ``"adaptive-reject"`` (``reject=True`` and
    ``retries=ADAPTIVE_REJECT_RETRIES``), or itself."""
    if damping is None or damping == "fixed":
        return None
    if isinstance(damping, LevenbergMarquardt):
        return damping
    if damping == "adaptive":
        return LevenbergMarquardt()
    if damping == "adaptive-reject":
        return LevenbergMarquardt(reject=True, retries=ADAPTIVE_REJECT_RETRIES)
    raise ValueError(f"unknown damping {damping!r}; expected 'fixed', 'adaptive', "
                     "'adaptive-reject' or a refimpl.optim.LevenbergMarquardt")


def quadratic_change(grads: dict, update: dict, lr: float, mass: float,
                     include_damping: bool) -> float:
    """``m(Δ)`` for ``Δ = −lr G⁻¹∇R`` with ``G = mass·I + C`` (see the module docstring)."""
    gd = tree.vdot(grads, update)                      # ∇Rᵀ Δ
    dGd = -lr * gd                                     # Δᵀ G Δ = −η ∇RᵀΔ
    if not include_damping:
        dGd -= mass * tree.vdot(update, update)
    return gd + 0.5 * dGd


def adapt(rule: LevenbergMarquardt, opt, state, X, targets, propose):
    """One step of an optimizer reviewed by ``rule``: ``(update, slots, diag)``.

    ``propose(value)`` gives the step at damping ``value``: ``(update, diag, predicted)``
    with ``diag["loss"]`` the risk before the step and ``predicted`` a callable giving
    ``m(Δ)`` (evaluated only on steps that measure ``ρ``). It is called once, and again with
    the raised damping after each rejection while ``rule.retries`` allow. The update is
    zeroed if the last attempt is rejected; the next state is in ``slots["damping"]``.
    ``X`` and ``targets`` are the batch as the optimizer checked it.
    """
    slot = state.slots["damping"]
    value = float(slot["value"])
    update, diag, predicted = propose(value)
    rho, new_loss, rejected, tries = np.nan, np.nan, False, 0
    if rule.measures(state.step):
        while True:
            new = tree.tree_map(np.add, state.params, update)
            new_loss = batch_risk(opt.model, opt.loss, new, X, targets)
            slot, rho, rejected = rule.review(state.step, slot, diag["loss"], new_loss,
                                              predicted())
            if not rejected or tries == rule.retries:
                break
            tries += 1
            value = float(slot["value"])
            update, diag, predicted = propose(value)
        if state.step % rule.interval == 0:
            slot = dict(slot, worst=np.array(np.inf))
    if rejected:
        update = tree.zeros_like(update)
        diag["update_norm"] = 0.0
    slots = dict(state.slots, damping=slot)
    diag.update(damping=value, rho=rho, new_loss=new_loss, rejected=float(rejected),
                retries=float(tries))
    return update, slots, diag


def batch_risk(model, loss, params, X, targets) -> float:
    """The batch risk ``R`` at ``params`` (one forward pass on a batch and parameters as the
    optimizer holds them, in their own float type); ``inf`` if it is not finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        states, _ = forward_pass(model, params, X)
        risk = float(np.mean(loss._value(states[-1], targets)))
    return risk if np.isfinite(risk) else np.inf


def _slot(value, worst, nu) -> dict:
    return {"value": np.array(float(value)), "worst": np.array(float(worst)),
            "nu": np.array(float(nu))}


def _real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"damping {name} must be a finite number, got {value!r}")
