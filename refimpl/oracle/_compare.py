"""Compare arrays under ``|got − want| ≤ atol + rtol·|want|`` and describe the worst entry."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Worst:
    """The entry of a quantity furthest outside (or closest to) its tolerance.

    ``ratio`` is ``|got − want| / (atol + rtol·|want|)``: above 1 the entry fails.
    """

    array: str
    index: tuple
    got: float
    want: float
    abs_error: float
    rel_error: float
    rtol: float
    atol: float
    ratio: float

    def __str__(self):
        idx = "[" + ", ".join(str(i) for i in self.index) + "]" if self.index else ""
        return (f"{self.array}{idx}: got {self.got!r}, want {self.want!r}; abs error "
                f"{self.abs_error:.3g}, rel error {self.rel_error:.3g} (rtol {self.rtol:g}, "
                f"atol {self.atol:.3g}: {self.ratio:.3g}× the tolerance)")


def compare_array(name: str, got: np.ndarray, want: np.ndarray, rtol: float,
                  atol: float) -> tuple[Worst, float]:
    """``(worst entry, normwise relative error ‖got − want‖_∞ / ‖want‖_∞)`` of one array.

    Shapes must already agree. NaN or infinite ``got`` entries count as infinitely wrong.
    """
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if want.size == 0:
        return Worst(name, (), 0.0, 0.0, 0.0, 0.0, rtol, atol, 0.0), 0.0
    err = np.abs(got - want)
    err = np.where(np.isfinite(err), err, np.inf)
    bound = atol + rtol * np.abs(want)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bound > 0, err / np.where(bound > 0, bound, 1.0),
                         np.where(err > 0, np.inf, 0.0))
    i = np.unravel_index(int(np.argmax(ratio)), want.shape) if want.ndim else ()
    e, w = float(err[i]), float(want[i])
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = e / abs(w) if w != 0 else (0.0 if e == 0 else np.inf)
    scale = float(np.max(np.abs(want)))
    normwise = float(np.max(err)) / scale if scale > 0 else (0.0 if not np.any(err) else np.inf)
    worst = Worst(name, tuple(int(x) for x in i), float(got[i]), w, e, float(rel), rtol, atol,
                  float(ratio[i]))
    return worst, normwise
