"""Every file and every ``refimpl`` name the prose points to exists.

The documentation (README.md, docs/*.rst and *.md, benchmarks/README.md, the golden set's
README) names repository files (``tests/metric/test_step.py``) and Python objects
(``refimpl.linalg.RefinedCholeskyInner``) in plain text that Sphinx does not resolve; a file
moved or a class renamed leaves them dangling. This lists every such reference that no longer
resolves and exits 1 if there is one. Run from the repository root (CI's docs job does).
"""
import importlib
import re
import sys
from pathlib import Path

DOCUMENTS = ["README.md", "benchmarks/README.md", "refimpl/oracle/golden_set/README.md",
             *sorted(str(p) for p in Path("docs").glob("*.rst")),
             *sorted(str(p) for p in Path("docs").glob("*.md"))]
# A repository path: a top-level folder, then a file name with an extension we ship.
PATH = re.compile(r"\b(?:tests|refimpl|benchmarks|examples|docs|\.ci)/[A-Za-z0-9_./-]*"
                  r"\.(?:py|rst|md|json|jsonl|toml|txt)(?:\.gz)?\b")
NAME = re.compile(r"\brefimpl(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def resolves(dotted: str) -> bool:
    """Whether ``dotted`` is a module, or an attribute chain under the longest module prefix."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
        return True
    return False


def main() -> int:
    dangling = []
    for doc in DOCUMENTS:
        text = Path(doc).read_text(encoding="utf-8")
        for m in PATH.finditer(text):
            if not Path(m.group(0)).exists():
                dangling.append(f"{doc}: file {m.group(0)} does not exist")
        for m in NAME.finditer(text):
            name = m.group(0)
            # "refimpl.oracle.testing.check_*" names a family; check its module.
            if text[m.end():m.end() + 1] == "*":
                name = name.rsplit(".", 1)[0]
            if not resolves(name):
                dangling.append(f"{doc}: name {name} does not resolve")
    for line in dangling:
        print(line)
    print(f"{len(DOCUMENTS)} documents, {len(dangling)} dangling reference(s)")
    return 1 if dangling else 0


if __name__ == "__main__":
    sys.exit(main())
