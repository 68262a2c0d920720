"""refimpl against JAX autodiff (jax.grad, jax.jacrev, jax.hessian; x64) on random
architectures and on the golden set.

JAX compiles each case once (about a second of CPU), so it runs the golden cases that are
hardest to get right — the composite networks and the tiny masses — while PyTorch
(``test_torch.py``) runs all of them.
"""
import pytest

pytest.importorskip("jax", reason="JAX is not installed (optional extra: "
                                  "pip install -e '.[crosscheck]')")

from crosscheck.check import check_random_case, golden_quantity_fn  # noqa: E402
from crosscheck.frameworks import jax_framework  # noqa: E402
from refimpl.oracle import testing  # noqa: E402

FW = jax_framework()
CACHE = {}


def hard(case):
    return case.kind in ("composite", "cnn") or case.mass_kind == "tiny"


@pytest.mark.parametrize("seed", range(24))
def test_random_architecture(seed, recorder):
    check_random_case(FW, seed, recorder)


@pytest.mark.parametrize("quantity", testing.QUANTITIES)
def test_golden_set(quantity, recorder):
    report = testing.check(quantity, golden_quantity_fn(FW, quantity, CACHE), select=hard,
                           label=f"{FW.name}: {quantity}")
    recorder(FW.name, f"golden {quantity}", report.max_rel_error,
             max(report.results, key=lambda r: r.rel_error).case.name)
