"""``refimpl oracle export`` and ``refimpl oracle verify`` (golden vectors, see ``golden.py``)."""
from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    oracle = subparsers.add_parser(
        "oracle", help="golden vectors for other backends",
        description="Golden vectors that other implementations test themselves against.")
    sub = oracle.add_subparsers(dest="oracle_command", metavar="ACTION", required=True)

    export = sub.add_parser(
        "export", help="write the golden set (manifest, README, one .npz per case)",
        description="Write the default golden set to DIR atomically (built beside it, then "
                    "renamed into place). An existing golden set there is replaced.")
    export.add_argument("--out", default=None, metavar="DIR",
                        help="output directory (default: data/golden of the checkout)")
    export.add_argument("--only", default=None, metavar="SUBSTRING",
                        help="only the cases whose name contains SUBSTRING")
    export.set_defaults(func=_export)

    verify = sub.add_parser(
        "verify", help="check a golden set's hashes (and optionally regenerate and compare)",
        description="Check every file's size and SHA-256 against manifest.json; with "
                    "--regenerate also recompute every case and compare values.")
    verify.add_argument("directory", nargs="?", default=None,
                        help="the golden set (default: data/golden of the checkout)")
    verify.add_argument("--regenerate", action="store_true",
                        help="recompute every case with this refimpl and compare values")
    verify.set_defaults(func=_verify)


def _export(args) -> int:
    from .golden import default_directory, export
    from .golden_cases import default_cases

    out = Path(args.out) if args.out else default_directory()
    cases = default_cases()
    if args.only:
        cases = [c for c in cases if args.only in c["name"]]
        if not cases:
            raise ValueError(f"no case name contains {args.only!r}")
    manifest = export(out, cases=cases)
    size = sum(f["bytes"] for f in manifest["files"].values())
    print(f"wrote {len(manifest['cases'])} cases ({size / 1e6:.2f} MB) to {out}")
    return 0


def _verify(args) -> int:
    from .golden import default_directory, verify
    from .drift import compare_with_regenerated

    directory = Path(args.directory) if args.directory else default_directory()
    manifest = verify(directory)
    print(f"{directory}: {len(manifest['files'])} files match manifest.json "
          f"(schema {manifest['schema_version']}, refimpl {manifest['package_version']})")
    if args.regenerate:
        report = compare_with_regenerated(directory)
        print(report)
        return 0 if report.passed else 1
    return 0
