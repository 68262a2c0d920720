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
                    "renamed into place). An existing golden set there is replaced. Without "
                    "--out it rewrites the set shipped with refimpl (package data, "
                    "refimpl/oracle/golden_set) and the digests that pin it in the package "
                    "(refimpl/oracle/golden_pin.py) — in a source checkout only.")
    export.add_argument("--out", default=None, metavar="DIR",
                        help="output directory (default: the set shipped with refimpl, in a "
                             "source checkout)")
    export.add_argument("--only", default=None, metavar="SUBSTRING",
                        help="only the cases whose name contains SUBSTRING (needs --out; "
                             "default: all cases)")
    export.set_defaults(func=_export)

    verify = sub.add_parser(
        "verify", help="check a golden set (hashes, manifest, tolerances; optionally "
                       "regenerate)",
        description="Check every file's size and SHA-256 against manifest.json, manifest.json "
                    "against SHA256SUMS, every case's parameters and tolerances against "
                    "refimpl's case definitions and rules, and, for the set shipped with "
                    "refimpl, every digest against the ones pinned in the package; with "
                    "--regenerate also recompute every case and compare values.")
    verify.add_argument("directory", nargs="?", default=None,
                        help="the golden set (default: the set shipped with refimpl, "
                             "refimpl/oracle/golden_set, or $REFIMPL_GOLDEN)")
    verify.add_argument("--pinned", action="store_true",
                        help="also require DIR to be the set shipped with refimpl (default: "
                             "only when DIR is the shipped set's own folder)")
    verify.add_argument("--regenerate", action="store_true",
                        help="recompute every case with this refimpl and compare values")
    verify.set_defaults(func=_verify)


def _export(args) -> int:
    from .._outputs import check_output_dir
    from .golden import export, shipped_directory
    from .golden_catalog import default_cases

    if args.only and not args.out:
        raise ValueError("--only writes a partial set, and the shipped set holds every case: "
                         "give it an --out DIR")
    out = Path(args.out) if args.out else shipped_directory()
    if not args.out and not (out.parents[2] / "pyproject.toml").is_file():
        raise ValueError(f"the shipped golden set {out} belongs to an installed refimpl; "
                         "regenerate it in a source checkout of refimpl, or write a copy "
                         "with --out DIR")
    check_output_dir(out, "--out")
    cases = default_cases()
    if args.only:
        cases = [c for c in cases if args.only in c["name"]]
        if not cases:
            raise ValueError(f"no case name contains {args.only!r}")
    manifest = export(out, cases=None if not args.only else cases)
    size = sum(f["bytes"] for f in manifest["files"].values())
    print(f"wrote {len(manifest['cases'])} cases ({size / 1e6:.2f} MB) to {out}")
    return 0


def _verify(args) -> int:
    from .golden import is_shipped, default_directory, verify
    from .drift import compare_with_regenerated

    directory = Path(args.directory) if args.directory else default_directory()
    pinned = True if args.pinned else None
    manifest = verify(directory, pinned=pinned)
    shipped = args.pinned or is_shipped(directory)
    print(f"{directory}: {len(manifest['files'])} files match manifest.json and SHA256SUMS; "
          f"{len(manifest['cases'])} cases and their tolerances are refimpl's"
          + ("; the set is the one shipped with refimpl" if shipped else "")
          + f" (schema {manifest['schema_version']}, refimpl {manifest['package_version']})")
    if args.regenerate:
        report = compare_with_regenerated(directory)
        print(report)
        return 0 if report.passed else 1
    return 0
