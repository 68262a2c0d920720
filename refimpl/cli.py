"""The ``refimpl`` command line.

Subcommands are registered by the packages that own them; each command module provides
``register(subparsers)``, which adds its parsers with ``set_defaults(func=handler)``; a
handler takes the parsed arguments and returns an exit code. Errors the user can fix (bad
options, bad files, divergence) are printed as one line, without a traceback, and the exit
status is non-zero.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

COMMAND_MODULES = (
    "refimpl.experiments._cli",       # train, reproduce, data fetch
    "refimpl.dynamics._cli",          # stability
    "refimpl.oracle._cli",            # oracle export
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="refimpl",
        description="Reference implementation of 'Riemannian Optimization in Modular Systems'.")
    parser.add_argument("--version", action="version", version=f"refimpl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None) -> int:
    from .optim import DivergenceError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, OSError, DivergenceError) as exc:
        print(f"refimpl {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"refimpl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
