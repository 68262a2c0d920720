"""``examples/action_principle.py`` runs, writes its two PNG files and nothing else."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "action_principle.py"


def test_action_principle_example_writes_its_pngs(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("action_principle_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.main(tmp_path / "figs")
    assert sorted(p.name for p in written) == ["hamiltonian.png", "paths.png"]
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["hamiltonian.png", "paths.png"]
    for p in written:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out
