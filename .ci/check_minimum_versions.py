"""Check that the installed versions are pyproject.toml's lower bounds (CI job "minimum").

Usage: python .ci/check_minimum_versions.py pyproject.toml [EXTRA ...]

For every run-time dependency and every dependency of the named extras that has a lower
bound (``>=X.Y``), the installed version must be a release of ``X.Y`` (``X.Y`` or
``X.Y.z``: an ``X.Y.0`` withdrawn from the registry resolves to ``X.Y.1``). Prints a table
and exits 1 on any other version, so the job cannot pass on newer releases than it claims.
"""
from __future__ import annotations

import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version

SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*>=\s*([0-9][0-9.]*)")


def lower_bounds(pyproject: str, extras: list[str]) -> dict[str, str]:
    with open(pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    specs = list(project.get("dependencies", []))
    for extra in extras:
        specs += project.get("optional-dependencies", {}).get(extra, [])
    return {m.group(1): m.group(2) for m in map(SPEC.match, specs) if m}


def main(argv: list[str]) -> int:
    bad = []
    for name, low in lower_bounds(argv[0], argv[1:]).items():
        try:
            got = version(name)
        except PackageNotFoundError:
            got = "not installed"
        want = low.split(".")
        ok = got.split("+")[0].split(".")[:len(want)] == want
        print(f"  {name:<14} >= {low:<8} installed {got:<12} {'ok' if ok else 'NOT THE MINIMUM'}")
        if not ok:
            bad.append(name)
    if bad:
        print(f"minimum versions not installed for: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
