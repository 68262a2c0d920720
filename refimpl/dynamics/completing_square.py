"""Completing the square in the action (:ref:`math §1 <math-1>`, paper §2 after eq. (1)).

Expanding ``|ẋ ± g⁻¹∇f|²_g = ẋᵀgẋ ± 2 ∇f·ẋ + ∇fᵀg⁻¹∇f`` and using ``∫ ∇f·ẋ dt = f(x(T)) − f(x(0))``:

    S = ½ ∫ |ẋ + g⁻¹∇f|²_g dt − (f(x_T) − f(x_0))          ("descent form")
      = ½ ∫ |ẋ − g⁻¹∇f|²_g dt + (f(x_T) − f(x_0))          ("ascent form")

Both squares are ``≥ 0``, so ``S ≥ |f(x_T) − f(x_0)|``, with equality iff ``ẋ = −g⁻¹∇f``
(descent, the first square vanishes) or ``ẋ = +g⁻¹∇f`` (ascent). Every term is returned
separately, so the identity can be checked term by term:

    kinetic + potential                 = action
    descent_square − cross              = action        (algebra, pointwise in t)
    ascent_square  + cross              = action
    cross                               = delta_f       (fundamental theorem of calculus)
"""

from __future__ import annotations

from dataclasses import dataclass

from .action import _check_nodes, _check_path, _check_subdivisions, _integrate_terms
from .lagrangian import _check_pair
from .metric import Metric
from .trajectory import Trajectory
from .potential import Potential

__all__ = ["SquareDecomposition", "complete_the_square"]


@dataclass(frozen=True)
class SquareDecomposition:
    """The terms of the completed square along one path (all floats).

    Attributes
    ----------
    kinetic : ½ ∫ ẋᵀ g ẋ dt
    potential : ½ ∫ ∇fᵀ g⁻¹ ∇f dt
    cross : ∫ ∇f · ẋ dt (by quadrature)
    descent_square : ½ ∫ |ẋ + g⁻¹∇f|²_g dt  (zero on gradient descent)
    ascent_square : ½ ∫ |ẋ − g⁻¹∇f|²_g dt   (zero on gradient ascent)
    delta_f : f(x_T) − f(x_0) (from the end points)
    """

    kinetic: float
    potential: float
    cross: float
    descent_square: float
    ascent_square: float
    delta_f: float

    @property
    def action(self) -> float:
        """``S = kinetic + potential``, eq. (1)."""
        return self.kinetic + self.potential

    @property
    def descent_form(self) -> float:
        """``½∫|ẋ + g⁻¹∇f|²_g − (f(x_T) − f(x_0))``, equal to the action."""
        return self.descent_square - self.delta_f

    @property
    def ascent_form(self) -> float:
        """``½∫|ẋ − g⁻¹∇f|²_g + (f(x_T) − f(x_0))``, equal to the action."""
        return self.ascent_square + self.delta_f

    @property
    def lower_bound(self) -> float:
        """``|f(x_T) − f(x_0)|``, the least action of any path between these end points' levels."""
        return abs(self.delta_f)


def complete_the_square(metric: Metric, potential: Potential, path: Trajectory, *, nodes: int = 8,
                        subdivisions: int = 1) -> SquareDecomposition:
    """All terms of the completing-the-square identity along ``path``.

    Parameters
    ----------
    metric, potential
        The geometry and the function ``f``.
    path : Trajectory
        Use ``Trajectory.from_samples(t, x)`` for samples (N+1, d).
    nodes, subdivisions : int
        Quadrature, as in `refimpl.dynamics.action_of_trajectory`.

    Returns
    -------
    SquareDecomposition
    """
    _check_pair(metric, potential)
    _check_path(metric, path)
    kinetic, pot, cross, dsq, asq = _integrate_terms(metric, potential, path, _check_nodes(nodes),
                                                     _check_subdivisions(subdivisions))
    x0 = metric.check_point(path.position(path.t0), "x(t0)")
    x1 = metric.check_point(path.position(path.t1), "x(t1)")
    delta_f = float(potential._value(x1) - potential._value(x0))
    return SquareDecomposition(float(kinetic), float(pot), float(cross), float(dsq), float(asq), delta_f)
