"""refimpl against PyTorch autograd (torch.func, float64) on random architectures and on the
golden set."""
import pytest

pytest.importorskip("torch", reason="PyTorch is not installed (optional extra: "
                                    "pip install -e '.[crosscheck]')")

from crosscheck.check import check_random_case, golden_quantity_fn  # noqa: E402
from crosscheck.frameworks import torch_framework  # noqa: E402
from refimpl.oracle import testing  # noqa: E402

# torch.func may call the deprecated torch.jit.script internally; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
FW = torch_framework()
CACHE = {}


@pytest.mark.parametrize("seed", range(24))
def test_random_architecture(seed, recorder):
    check_random_case(FW, seed, recorder)


@pytest.mark.parametrize("quantity", testing.QUANTITIES)
def test_golden_set(quantity, recorder):
    report = testing.check(quantity, golden_quantity_fn(FW, quantity, CACHE),
                           label=f"{FW.name}: {quantity}")
    recorder(FW.name, f"golden {quantity}", report.max_rel_error,
             max(report.results, key=lambda r: r.rel_error).case.name)
