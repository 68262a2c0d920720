"""Every script in examples/ is a valid sphinx-gallery example: a module docstring whose first
lines are a reStructuredText title, and no network or absolute paths of this machine.

(The documentation build runs every example; this catches a missing header in seconds.)"""
import ast
import re
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


def test_there_are_examples_and_a_gallery_header():
    assert len(EXAMPLES) >= 6
    assert (EXAMPLES[0].parent / "README.txt").read_text().splitlines()[1].startswith("===")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_has_a_gallery_title(path):
    doc = ast.get_docstring(ast.parse(path.read_text()), clean=False)
    assert doc is not None, f"{path.name} has no module docstring"
    lines = doc.strip("\n").splitlines()
    assert len(lines) >= 3 and lines[0].strip(), f"{path.name}: the docstring must open with a title"
    assert re.fullmatch(r"=+", lines[1].strip()) and len(lines[1].strip()) >= len(lines[0].strip()), \
        f"{path.name}: the title must be underlined with '=' at least as long as the title"
    text = path.read_text()
    for outside in ("/work/", "SP" "EC", "../" "shared"):   # files the repository does not hold
        assert outside not in text, f"{path.name} refers to {outside!r}"
