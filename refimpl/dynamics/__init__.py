"""Gradient flow as the minimiser of an action (:ref:`math §1 <math-1>`; paper §2, eq. (1), Theorems 1–2, Remark 1).

A small toolkit to learn the theory from, one concept per module:

===========================  ===============================================================
``metric``                   ``g(x)`` and ``∂g/∂x``: Euclidean, constant SPD, Poincaré
                             half-plane, any callable (finite differences)
``potential``                ``f`` with gradient and Hessian
``path``                     trajectories ``x(t)`` with velocity (samples, analytic, dense)
``lagrangian``               ``L = ½ẋᵀgẋ + V`` (``action_lagrangian``), ``V = ½∇fᵀg⁻¹∇f``, momentum ``p = gẋ``
``action``                   the action ``S`` of eq. (1)
``completing_square``        ``S = ½∫|ẋ ± g⁻¹∇f|²_g ∓ (f(x_T) − f(x_0))`` term by term
``hamiltonian``              ``H = ½pᵀg⁻¹p − V`` (Theorem 1), Hamilton's equations (Theorem 2),
                             co-geodesic limit (Remark 1)
``geodesic``                 Christoffel symbols, Euler–Lagrange and geodesic equations
``gradient_flow``            ``ẋ = ∓g⁻¹∇f`` with ``solve_ivp``
``hamilton_flow``            Hamilton's flow with measured energy drift
``network``                  the layerwise metric of a small MLP and the action budget
                             ``S ≈ R(w₀) − R(w_T)`` along Riemannian SGD
===========================  ===============================================================

Conventions: points are float64 arrays of shape ``(d,)``; ``dg[i] = ∂g/∂x_i`` has shape
``(d, d, d)``; samples are ``(N+1, d)`` on a time grid ``(N+1,)``. Public functions validate
their input and raise ``TypeError``/``ValueError`` with a message; underscored functions
compute. (``network`` calls ``refimpl.oracle``, imported when first used.)
"""

from .action import action, action_of_trajectory
from .completing_square import SquareDecomposition, complete_the_square
from .geodesic import christoffel, euler_lagrange_rhs, geodesic_rhs
from .gradient_flow import GradientFlowResult, gradient_flow, riemannian_gradient
from .hamilton_flow import HamiltonFlowResult, hamilton_flow
from .hamiltonian import cogeodesic_rhs, hamilton_rhs, hamiltonian
from .lagrangian import action_lagrangian, momentum, potential_energy, potential_energy_gradient
from .metric import (
    DEFAULT_FD_STEP,
    ConstantMetric,
    EuclideanMetric,
    FunctionMetric,
    Metric,
    PoincareHalfPlane,
    central_difference,
)
from .network import ActionBudget, NetworkProblem, action_budget
from .trajectory import Trajectory
from .potential import Potential, half_plane_bowl, quadratic_potential

__all__ = [
    "Metric", "EuclideanMetric", "ConstantMetric", "PoincareHalfPlane", "FunctionMetric",
    "central_difference", "DEFAULT_FD_STEP",
    "Potential", "quadratic_potential", "half_plane_bowl",
    "Trajectory",
    "action_lagrangian", "momentum", "potential_energy", "potential_energy_gradient",
    "action", "action_of_trajectory",
    "SquareDecomposition", "complete_the_square",
    "hamiltonian", "hamilton_rhs", "cogeodesic_rhs",
    "christoffel", "euler_lagrange_rhs", "geodesic_rhs",
    "GradientFlowResult", "gradient_flow", "riemannian_gradient",
    "HamiltonFlowResult", "hamilton_flow",
    "NetworkProblem", "ActionBudget", "action_budget",
]
