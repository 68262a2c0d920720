"""Remark 2: the Brayton–Moser equations of a nonlinear RLC circuit as a gradient flow.

The circuit (:class:`RLCCircuit`) has ``a`` inductors with currents ``i`` and ``b`` capacitors
with voltages ``v``; the state is ``z = (i, v) ∈ R^{a+b}``. Its *mixed potential* is

    P(i, v) = Σ_k (½R_k i_k² + ¼ρ_k i_k⁴ − E_k i_k) + iᵀΓv − Σ_m (½G_m v_m² + ¼σ_m v_m⁴ − I_m v_m)

(current-controlled resistors with voltage ``R i + ρ i³`` and sources ``E`` in the inductor
branches; voltage-controlled conductances with current ``G v + σ v³`` and sources ``I`` at the
capacitor nodes; ``Γ`` the ``a × b`` topology matrix). The Brayton–Moser equations are

    L di/dt = −∂P/∂i,     C dv/dt = +∂P/∂v,     i.e.  Q ż = −∇P,  Q = diag(L, −C)

(:meth:`RLCCircuit.vector_field`). With the two positive-definite metrics ``L`` (on currents)
and ``C`` (on voltages) of the paper's Remark 2 this is descent in ``i`` and *ascent* in ``v``:
a gradient flow of ``P`` for the indefinite metric ``Q``. The action defined as eq. (1),

    S_Q[z] = ½∫(żᵀQż + ∇PᵀQ⁻¹∇P) dt = ½∫|i̇ + L⁻¹P_i|²_L dt − ½∫|v̇ − C⁻¹P_v|²_C dt − ΔP,

(:func:`pseudo_action`) is stationary on the flow, where it equals ``P(z(0)) − P(z(T))``, and
the Hamiltonian ``½pᵀQ⁻¹p − ½∇PᵀQ⁻¹∇P`` (:func:`pseudo_hamiltonian`) vanishes there — but it
is a *saddle*: a variation of the voltages lowers it, so there is no lower bound.

The transformation to a positive-definite metric (in the spirit of Brayton and Moser's
Theorem 3): for linear ``L``, ``C`` and any real ``λ``,

    P_λ = λP + ½∇PᵀQ⁻¹∇P = λP + ½P_iᵀL⁻¹P_i − ½P_vᵀC⁻¹P_v,     Q_λ = λQ + ∇²P,

and every solution satisfies ``Q_λ ż = −∇P_λ`` (differentiate: ``∇P_λ = λ∇P + ∇²P Q⁻¹∇P``
and ``Q⁻¹∇P = −ż``). ``Q_λ`` is symmetric; where it is positive definite the Brayton–Moser
flow *is* Riemannian gradient descent of ``P_λ`` with the metric ``Q_λ``
(:func:`admissible_pair`), and every statement of §1 holds verbatim: ``S_λ ≥ |ΔP_λ|`` with
equality on the flow, ``H_λ = 0`` there. The ``λ`` for which ``Q_λ(z) ≻ 0`` form an open
interval bounded by real eigenvalues of the flow's Jacobian ``−Q⁻¹∇²P`` (:func:`admissible_lambdas`);
it is empty where that Jacobian has complex eigenvalues, so an oscillating circuit is not a
gradient flow for any metric near its equilibrium. For a linear series RLC loop the condition
is exactly overdamping, ``|R/L − G/C| > 2/√(LC)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve, eigvals

from .._validation import as_float_array, check_spd
from ._checks import check_vector
from ._ode import DEFAULT_ATOL, DEFAULT_RTOL, integrate
from .metric import Metric
from .trajectory import Trajectory
from .potential import Potential

__all__ = ["RLCCircuit", "BraytonMoserMetric", "PseudoAction", "admissible_pair",
           "admissible_lambdas", "brayton_moser_flow", "pseudo_action", "pseudo_hamiltonian",
           "series_rlc"]


@dataclass(frozen=True, eq=False)
class RLCCircuit:
    """A nonlinear RLC circuit in Brayton–Moser form (module docstring for ``P``).

    Parameters
    ----------
    inductance : array_like, shape (a, a)
        ``L``, symmetric positive definite (constant: linear inductors).
    capacitance : array_like, shape (b, b)
        ``C``, symmetric positive definite.
    topology : array_like, shape (a, b)
        ``Γ``: the coupling ``iᵀΓv`` of the mixed potential.
    resistance, resistance_cubic, source : array_like, shape (a,)
        ``R``, ``ρ``, ``E`` of the inductor branches (voltage ``R i + ρ i³ − E``).
    conductance, conductance_cubic, current_source : array_like, shape (b,)
        ``G``, ``σ``, ``I`` at the capacitor nodes (current ``G v + σ v³ − I``).

    Examples
    --------
    >>> import numpy as np
    >>> c = series_rlc(L=1.0, C=1.0, R=3.0, G=0.2, E=1.0)
    >>> z = np.array([0.5, -0.2])
    >>> bool(np.allclose(c.vector_field(z), [1.0 - 3.0 * 0.5 + 0.2, 0.5 - 0.2 * -0.2]))
    True
    """

    inductance: np.ndarray
    capacitance: np.ndarray
    topology: np.ndarray
    resistance: np.ndarray
    conductance: np.ndarray
    resistance_cubic: np.ndarray | float = 0.0
    conductance_cubic: np.ndarray | float = 0.0
    source: np.ndarray | float = 0.0
    current_source: np.ndarray | float = 0.0

    def __post_init__(self):
        L = check_spd(self.inductance, "inductance")
        C = check_spd(self.capacitance, "capacitance")
        a, b = L.shape[0], C.shape[0]
        fields = {"inductance": L, "capacitance": C,
                  "topology": as_float_array(self.topology, "topology", shape=(a, b))}
        for name, size in (("resistance", a), ("resistance_cubic", a), ("source", a),
                           ("conductance", b), ("conductance_cubic", b),
                           ("current_source", b)):
            value = as_float_array(getattr(self, name), name)
            if value.ndim == 0:
                value = np.full(size, float(value))
            if value.shape != (size,):
                raise ValueError(f"{name} must be a scalar or have shape ({size},), got "
                                 f"{value.shape}")
            fields[name] = value
        for name, value in fields.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_L", cho_factor(L))
        object.__setattr__(self, "_C", cho_factor(C))

    # -- sizes and the pseudo-metric ------------------------------------------------------
    @property
    def n_currents(self) -> int:
        return self.inductance.shape[0]

    @property
    def n_voltages(self) -> int:
        return self.capacitance.shape[0]

    @property
    def dim(self) -> int:
        return self.n_currents + self.n_voltages

    def split(self, z) -> tuple[np.ndarray, np.ndarray]:
        """``(i, v)`` from a state ``z`` of shape ``(a + b,)``."""
        z = check_vector(z, self.dim, "z")
        return z[:self.n_currents], z[self.n_currents:]

    def pseudo_metric(self) -> np.ndarray:
        """``Q = diag(L, −C)``, shape ``(a+b, a+b)``: symmetric, indefinite."""
        a = self.n_currents
        Q = np.zeros((self.dim, self.dim))
        Q[:a, :a], Q[a:, a:] = self.inductance, -self.capacitance
        return Q

    # -- the mixed potential and its derivatives ------------------------------------------
    def potential_value(self, z) -> float:
        """``P(i, v)``."""
        i, v = self.split(z)
        return float(np.sum(0.5 * self.resistance * i ** 2 + 0.25 * self.resistance_cubic * i ** 4
                            - self.source * i) + i @ self.topology @ v
                     - np.sum(0.5 * self.conductance * v ** 2
                              + 0.25 * self.conductance_cubic * v ** 4 - self.current_source * v))

    def potential_gradient(self, z) -> np.ndarray:
        """``∇P = (P_i, P_v)``: ``P_i`` = the inductor branches' voltages, ``P_v`` = the
        capacitor nodes' net currents."""
        i, v = self.split(z)
        Pi = self.resistance * i + self.resistance_cubic * i ** 3 - self.source + self.topology @ v
        Pv = self.topology.T @ i - (self.conductance * v + self.conductance_cubic * v ** 3
                                    - self.current_source)
        return np.concatenate([Pi, Pv])

    def potential_hessian(self, z) -> np.ndarray:
        """``∇²P = [[diag(R + 3ρi²), Γ], [Γᵀ, −diag(G + 3σv²)]]``."""
        i, v = self.split(z)
        a = self.n_currents
        H = np.zeros((self.dim, self.dim))
        H[:a, :a] = np.diag(self.resistance + 3.0 * self.resistance_cubic * i ** 2)
        H[:a, a:], H[a:, :a] = self.topology, self.topology.T
        H[a:, a:] = -np.diag(self.conductance + 3.0 * self.conductance_cubic * v ** 2)
        return H

    def hessian_derivative(self, z) -> np.ndarray:
        """``∂_k ∇²P``, shape ``(d, d, d)`` (derivative index first): diagonal, ``6ρ_k i_k``
        and ``−6σ_m v_m``."""
        i, v = self.split(z)
        dH = np.zeros((self.dim,) * 3)
        diag = np.concatenate([6.0 * self.resistance_cubic * i, -6.0 * self.conductance_cubic * v])
        for k in range(self.dim):
            dH[k, k, k] = diag[k]
        return dH

    def mixed_potential(self) -> Potential:
        """``P`` as a :class:`~refimpl.dynamics.Potential` (analytic gradient and Hessian)."""
        return Potential(self.potential_value, self.potential_gradient, self.dim,
                         hessian=self.potential_hessian, name="P")

    def vector_field(self, z) -> np.ndarray:
        """``ż = −Q⁻¹∇P``: ``di/dt = −L⁻¹P_i``, ``dv/dt = +C⁻¹P_v``."""
        g = self.potential_gradient(z)
        a = self.n_currents
        return np.concatenate([-cho_solve(self._L, g[:a]), cho_solve(self._C, g[a:])])

    def solve_pseudo_metric(self, w) -> np.ndarray:
        """``Q⁻¹w = (L⁻¹w_i, −C⁻¹w_v)``."""
        w = check_vector(w, self.dim, "w")
        a = self.n_currents
        return np.concatenate([cho_solve(self._L, w[:a]), -cho_solve(self._C, w[a:])])


def series_rlc(*, L=1.0, C=1.0, R=1.0, G=0.0, E=0.0, rho=0.0, sigma=0.0, I=0.0) -> RLCCircuit:
    """One loop: source ``E`` and resistor ``R i + ρ i³`` in series with an inductor ``L``,
    feeding a capacitor ``C`` in parallel with a conductance ``G v + σ v³`` (and a current
    source ``I``). ``L di/dt = E − R i − ρ i³ − v``, ``C dv/dt = i − G v − σ v³ + I``."""
    return RLCCircuit([[L]], [[C]], [[1.0]], [R], [G], resistance_cubic=[rho],
                      conductance_cubic=[sigma], source=[E], current_source=[I])


# -- the indefinite (pseudo-Riemannian) action of Remark 2 --------------------------------------
@dataclass(frozen=True)
class PseudoAction:
    """``S_Q = current_square − voltage_square − delta_P`` (each term integrated separately).

    Attributes
    ----------
    action : float
        ``½∫(żᵀQż + ∇PᵀQ⁻¹∇P) dt``.
    current_square : float
        ``½∫|i̇ + L⁻¹P_i|²_L dt ≥ 0``, zero iff the current equations hold.
    voltage_square : float
        ``½∫|v̇ − C⁻¹P_v|²_C dt ≥ 0``, zero iff the voltage equations hold.
    delta_P : float
        ``P(z(T)) − P(z(0))``.
    """

    action: float
    current_square: float
    voltage_square: float
    delta_P: float

    @property
    def identity_residual(self) -> float:
        """``S_Q − (current_square − voltage_square − ΔP)``: zero to quadrature accuracy."""
        return self.action - (self.current_square - self.voltage_square - self.delta_P)


def pseudo_action(circuit: RLCCircuit, path: Trajectory, *, nodes: int = 8) -> PseudoAction:
    """The action (1) with the indefinite metric ``Q = diag(L, −C)``, and its two squares.

    Composite Gauss–Legendre quadrature with ``nodes`` points between the path's breakpoints
    (as :func:`refimpl.dynamics.action_of_trajectory`).
    """
    if not isinstance(path, Trajectory):
        raise TypeError(f"path must be a refimpl.dynamics.Trajectory, got {type(path).__name__}")
    if path.dim != circuit.dim:
        raise ValueError(f"path has dimension {path.dim}, the circuit has {circuit.dim} states")
    if isinstance(nodes, bool) or not isinstance(nodes, (int, np.integer)) or not 1 <= nodes <= 64:
        raise ValueError(f"nodes must be an integer between 1 and 64, got {nodes!r}")
    s, w = np.polynomial.legendre.leggauss(int(nodes))
    a = circuit.n_currents
    L, C = circuit.inductance, circuit.capacitance
    total = np.zeros(3)
    for t0, t1 in zip(path.breakpoints[:-1], path.breakpoints[1:]):
        half, mid = 0.5 * (t1 - t0), 0.5 * (t0 + t1)
        for sk, wk in zip(s, w):
            tk = mid + half * sk
            z, zd = path._position(tk), path._velocity(tk)
            g = circuit.potential_gradient(z)
            ui = cho_solve(circuit._L, g[:a])
            uv = cho_solve(circuit._C, g[a:])
            di, dv = zd[:a] + ui, zd[a:] - uv
            kinetic = zd[:a] @ L @ zd[:a] - zd[a:] @ C @ zd[a:]
            potential = g[:a] @ ui - g[a:] @ uv
            total += (wk * half) * np.array([0.5 * (kinetic + potential), 0.5 * di @ L @ di,
                                             0.5 * dv @ C @ dv])
    dP = circuit.potential_value(path._position(path.t1)) - \
        circuit.potential_value(path._position(path.t0))
    return PseudoAction(float(total[0]), float(total[1]), float(total[2]), float(dP))


def pseudo_hamiltonian(circuit: RLCCircuit, z, p) -> float:
    """``H_Q = ½pᵀQ⁻¹p − ½∇PᵀQ⁻¹∇P``; zero on the flow, where ``p = Qż = −∇P``."""
    p = check_vector(p, circuit.dim, "p")
    g = circuit.potential_gradient(z)
    return float(0.5 * p @ circuit.solve_pseudo_metric(p) - 0.5 * g @ circuit.solve_pseudo_metric(g))


# -- the positive-definite transformation ---------------------------------------------------------
class BraytonMoserMetric(Metric):
    """``Q_λ(z) = λQ + ∇²P(z)``, a Riemannian metric where it is positive definite.

    The domain is the set of states where ``Q_λ(z)`` is positive definite (a Cholesky
    factorisation succeeds); the derivative ``∂_k Q_λ = ∂_k ∇²P`` is analytic.
    """

    domain_description = "where λQ + ∇²P(z) is positive definite"

    def __init__(self, circuit: RLCCircuit, lam: float):
        if not isinstance(circuit, RLCCircuit):
            raise TypeError(f"circuit must be an RLCCircuit, got {type(circuit).__name__}")
        if isinstance(lam, bool) or not isinstance(lam, (int, float, np.integer, np.floating)) \
                or not math.isfinite(lam):
            raise ValueError(f"lam must be a finite real number, got {lam!r}")
        super().__init__(circuit.dim)
        self.circuit, self.lam = circuit, float(lam)
        self._Q = circuit.pseudo_metric()

    def _matrix(self, x):
        return self.lam * self._Q + self.circuit.potential_hessian(x)

    def _derivative(self, x):
        return self.circuit.hessian_derivative(x)

    def _in_domain(self, x):
        try:
            np.linalg.cholesky(self._matrix(x))
        except np.linalg.LinAlgError:
            return False
        return True

    def __repr__(self):
        return f"BraytonMoserMetric(dim={self.dim}, lam={self.lam:g})"


def admissible_pair(circuit: RLCCircuit, lam: float) -> tuple[BraytonMoserMetric, Potential]:
    """``(Q_λ, P_λ)``: the metric and potential whose gradient descent is the circuit's flow.

    ``P_λ = λP + ½∇PᵀQ⁻¹∇P`` with gradient ``λ∇P + ∇²P Q⁻¹∇P`` and Hessian
    ``λ∇²P + ∇²P Q⁻¹ ∇²P + Σ_k (Q⁻¹∇P)_k ∂_k∇²P``. Use :func:`admissible_lambdas` to find a
    ``λ`` for which ``Q_λ`` is positive definite along the states of interest.
    """
    metric = BraytonMoserMetric(circuit, lam)
    lam = metric.lam

    def value(z):
        g = circuit.potential_gradient(z)
        return lam * circuit.potential_value(z) + 0.5 * g @ circuit.solve_pseudo_metric(g)

    def gradient(z):
        g = circuit.potential_gradient(z)
        return lam * g + circuit.potential_hessian(z) @ circuit.solve_pseudo_metric(g)

    def hessian(z):
        g, H = circuit.potential_gradient(z), circuit.potential_hessian(z)
        Qinv_H = np.column_stack([circuit.solve_pseudo_metric(col) for col in H.T])
        third = np.einsum("k,kab->ab", circuit.solve_pseudo_metric(g),
                          circuit.hessian_derivative(z))
        out = lam * H + H @ Qinv_H + third
        return 0.5 * (out + out.T)

    return metric, Potential(value, gradient, circuit.dim, hessian=hessian, name=f"P_{lam:g}")


def admissible_lambdas(circuit: RLCCircuit, states) -> tuple[float, float] | None:
    """The open interval of ``λ`` with ``λQ + ∇²P(z) ≻ 0`` at every state, or ``None``.

    At one state the set is convex (``Q_λ`` is affine in ``λ``) and its ends are real
    generalised eigenvalues of ``(∇²P, −Q)``, i.e. real eigenvalues of the flow's Jacobian
    ``−Q⁻¹∇²P``; each gap between consecutive real eigenvalues is tested at its midpoint.

    Parameters
    ----------
    circuit : RLCCircuit
    states : array_like, shape (N, a + b) or (a + b,)

    Returns
    -------
    (float, float) or None
        ``(λ_lo, λ_hi)``, intersected over the states; ``None`` if empty somewhere.
    """
    Z = as_float_array(states, "states")
    Z = Z[None, :] if Z.ndim == 1 else Z
    if Z.ndim != 2 or Z.shape[1] != circuit.dim:
        raise ValueError(f"states must have shape (N, {circuit.dim}), got {Z.shape}")
    Q = circuit.pseudo_metric()
    lo, hi = -math.inf, math.inf
    for z in Z:
        H = circuit.potential_hessian(z)
        ev = eigvals(H, -Q)
        real = np.sort(ev.real[np.abs(ev.imag) <= 1e-9 * max(1.0, np.abs(ev).max())])
        found = None
        for left, right in zip(real[:-1], real[1:]):
            if right - left > 0 and _is_pd(0.5 * (left + right) * Q + H):
                found = (float(left), float(right))
                break
        if found is None:
            return None
        lo, hi = max(lo, found[0]), min(hi, found[1])
        if lo >= hi:
            return None
    return lo, hi


def brayton_moser_flow(circuit: RLCCircuit, z0, t_span, *, method: str = "DOP853",
                       rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL, t_eval=None):
    """Integrate ``Q ż = −∇P`` from ``z0``; returns ``(t, z (n, a+b), Trajectory)`` (dense output)."""
    z0 = check_vector(z0, circuit.dim, "z0")
    sol = integrate(lambda t, z: circuit.vector_field(z), t_span, z0, method=method, rtol=rtol,
                    atol=atol, t_eval=t_eval, what="Brayton–Moser")
    path = Trajectory(lambda t: sol.sol(t), lambda t: circuit.vector_field(sol.sol(t)),
                (sol.sol.ts[0], sol.sol.ts[-1]), circuit.dim, breakpoints=sol.sol.ts)
    return sol.t, sol.y.T.copy(), path


def _is_pd(A) -> bool:
    try:
        np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return False
    return True
