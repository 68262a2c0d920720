"""examples/pytorch_conformance.py passes the golden set with PyTorch, and without PyTorch it
says so and exits 0."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pytorch_conformance.py"


def test_example_passes_the_golden_set(capsys):
    pytest.importorskip("torch", reason="PyTorch is not installed (optional extra: "
                                        "pip install -e '.[crosscheck]')")
    spec = importlib.util.spec_from_file_location("pytorch_conformance", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--form", "both"]) == 0
    out = capsys.readouterr().out
    for label in ("gradients", "multipliers", "update_layer (woodbury)",
                  "update_network (dense)"):
        assert re.search(rf"^{re.escape(label)}: (\d+)/\1 cases pass", out, re.M), label


def test_example_without_torch_skips_with_a_message():
    code = ("import sys, runpy; sys.modules['torch'] = None; "
            f"runpy.run_path({str(EXAMPLE)!r}, run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "skipping: PyTorch is not installed" in proc.stdout
