"""Trajectories ``x(t)``, ``t ∈ [t0, t1]``, as the action functional sees them (:ref:`math §1 <math-1>`).

The action (1) is a functional of a whole path: it needs the position ``x(t)`` (shape
``(d,)``) and the velocity ``ẋ(t)`` at any time. A `Trajectory` holds both as callables plus the
*breakpoints* where the path may be non-smooth (sample times, integrator steps); quadrature
(`refimpl.dynamics.action`) integrates between consecutive breakpoints, so it never straddles
a kink.

Three ways to get one:

- ``Trajectory(position, velocity, t_span)``: an analytic curve;
- ``Trajectory.from_samples(t, x)``: samples ``x`` (N+1, d) on a grid ``t`` (N+1,), joined by
  straight segments (the velocity is the constant secant on each segment);
- ``GradientFlowResult.trajectory()`` / ``HamiltonFlowResult.trajectory()``: the dense output of an
  integrator, velocity from the vector field.

``path.perturbed(vector, mode)`` adds ``sin(mode·π·s)·vector``, ``s = (t − t0)/(t1 − t0)``,
which vanishes at both ends: a fixed-end-point variation.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._checks import as_float_array, check_finite, check_samples, check_t_span, check_vector

__all__ = ["Trajectory"]


class Trajectory:
    """A curve ``x: [t0, t1] → R^d`` with its velocity.

    Parameters
    ----------
    position : callable
        ``position(t) -> (d,)``.
    velocity : callable
        ``velocity(t) -> (d,)``, the time derivative of ``position``.
    t_span : pair of float
        ``(t0, t1)``, ``t1 > t0``.
    dim : int
        The dimension ``d``.
    breakpoints : array_like, optional
        Increasing times from ``t0`` to ``t1`` between which the path is smooth (default:
        just the two ends).
    """

    def __init__(self, position: Callable, velocity: Callable, t_span, dim: int, *, breakpoints=None):
        if not callable(position) or not callable(velocity):
            raise TypeError("position and velocity must both be callables t -> array of shape (d,).")
        self.t0, self.t1 = check_t_span(t_span)
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}.")
        self.dim = int(dim)
        if breakpoints is None:
            bp = np.array([self.t0, self.t1])
        else:
            bp = check_finite(as_float_array(breakpoints, "breakpoints"), "breakpoints")
            if bp.ndim != 1 or bp.size < 2 or np.any(np.diff(bp) <= 0):
                raise ValueError("breakpoints must be a strictly increasing 1-D array with at least 2 times.")
            if not (np.isclose(bp[0], self.t0) and np.isclose(bp[-1], self.t1)):
                raise ValueError(f"breakpoints must run from t0 = {self.t0} to t1 = {self.t1}, got {bp[0]} .. {bp[-1]}.")
            bp = bp.copy()
            bp[0], bp[-1] = self.t0, self.t1
        self.breakpoints = bp
        self._position = position
        self._velocity = velocity

    @classmethod
    def from_samples(cls, t, x) -> "Trajectory":
        """The piecewise-linear path through samples ``x`` (N+1, d) at times ``t`` (N+1,)."""
        x_arr = as_float_array(x, "x")
        if x_arr.ndim != 2:
            raise ValueError(f"x must be a 2-D array of samples (N+1, d), got shape {x_arr.shape}.")
        t, x = check_samples(t, x_arr, x_arr.shape[1])
        slopes = np.diff(x, axis=0) / np.diff(t)[:, None]

        def segment(s):
            return int(np.clip(np.searchsorted(t, s, side="right") - 1, 0, t.size - 2))

        def position(s):
            k = segment(s)
            return x[k] + (s - t[k]) * slopes[k]

        def velocity(s):
            return slopes[segment(s)].copy()

        return cls(position, velocity, (t[0], t[-1]), x.shape[1], breakpoints=t)

    def position(self, t) -> np.ndarray:
        """``x(t)``, shape ``(d,)``."""
        return check_vector(self._position(float(t)), self.dim, "position(t)")

    def velocity(self, t) -> np.ndarray:
        """``ẋ(t)``, shape ``(d,)``."""
        return check_vector(self._velocity(float(t)), self.dim, "velocity(t)")

    def perturbed(self, vector, mode: int = 1) -> "Trajectory":
        """This path plus ``sin(mode·π·s)·vector``, ``s = (t − t0)/(t1 − t0)``; same end points.

        Parameters
        ----------
        vector : array_like, shape (d,)
            Direction and amplitude of the variation.
        mode : int
            Number of half-waves (``≥ 1``).
        """
        v = check_vector(vector, self.dim, "vector")
        if isinstance(mode, bool) or not isinstance(mode, (int, np.integer)) or mode < 1:
            raise ValueError(f"mode must be a positive integer, got {mode!r}.")
        k = float(mode) * np.pi
        T = self.t1 - self.t0
        t0 = self.t0

        def position(t):
            return self._position(t) + np.sin(k * (t - t0) / T) * v

        def velocity(t):
            return self._velocity(t) + (k / T) * np.cos(k * (t - t0) / T) * v

        return Trajectory(position, velocity, (self.t0, self.t1), self.dim, breakpoints=self.breakpoints)

    def __repr__(self) -> str:
        return f"Trajectory(dim={self.dim}, t_span=({self.t0}, {self.t1}), {self.breakpoints.size - 1} smooth pieces)"
