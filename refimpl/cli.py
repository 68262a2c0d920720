"""The ``refimpl`` command line.

Subcommands are registered by the packages that own them; each command module provides
``register(subparsers)``, which adds its parsers with ``set_defaults(func=handler)``; a
handler takes the parsed arguments and returns an exit code. Handlers check their output
paths before any work. Errors the user can fix (bad options, bad files, divergence) are
printed as one line, without a traceback, and the exit status is non-zero; an operating
system error (a file where a folder is needed, no permission, a full disk) is turned into a
sentence that names the path and says what to do (:func:`os_error_message`).

Option values are checked when the command line is parsed, by the types below
(:func:`positive_int`, :func:`nonnegative_int`, :func:`positive_float`, …), so that the error
names the option (``argument --lr: must be a finite number > 0, got '-1'``, exit status 2).
"""
from __future__ import annotations

import argparse
import errno
import importlib
import math
import sys

from . import __version__

COMMAND_MODULES = (
    "refimpl.experiments._cli",       # train, reproduce, data fetch
    "refimpl.experiments._stability_cli",  # stability
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
    from .linalg import ConvergenceError
    from .metric import InsufficientMemoryError
    from .optim import DivergenceError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except OSError as exc:
        print(f"refimpl {args.command}: error: {os_error_message(exc)}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, DivergenceError, ConvergenceError,
            InsufficientMemoryError) as exc:
        print(f"refimpl {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"refimpl {args.command}: error: out of memory; use a smaller batch "
              "(--batch-size) or the matrix-free solver of the metric", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"refimpl {args.command}: interrupted", file=sys.stderr)
        return 130


# -- operating-system errors as sentences ---------------------------------------------------
_ADVICE = {
    errno.EEXIST: "{path} already exists (a file where a folder is needed, or a folder in "
                  "the way); choose another path or remove it",
    errno.ENOTDIR: "{path}: part of this path is a file, not a folder; choose another path",
    errno.EISDIR: "{path} is a folder where a file is needed; choose another path",
    errno.ENOENT: "{path} does not exist; check the path",
    errno.EACCES: "no permission to access {path}; choose a path you can write to, or change "
                  "its permissions",
    errno.EPERM: "the operation on {path} is not permitted; choose another path",
    errno.EROFS: "{path} is on a read-only file system; choose another path",
    errno.ENOSPC: "no space left on the device holding {path}; free some space or choose "
                  "another output path",
    errno.EDQUOT: "disk quota exceeded writing {path}; free some space or choose another "
                  "output path",
    errno.ENAMETOOLONG: "the path {path} is too long; choose a shorter one",
}


def os_error_message(exc: OSError) -> str:
    """One sentence for an ``OSError``: ours (no ``errno``) as they are; the system's
    (``[Errno 17] File exists: 'x'``) as what happened to which path and what to do."""
    if exc.errno is None or exc.strerror is None:
        return str(exc)
    path = exc.filename if exc.filename is not None else "a file"
    if exc.filename2 is not None:
        path = f"{exc.filename} (moving it to {exc.filename2})"
    advice = _ADVICE.get(exc.errno)
    if advice is None:
        return f"{exc.strerror} ({path})"
    return advice.format(path=path)


# -- option types (argparse) ----------------------------------------------------------------
def positive_int(text: str) -> int:
    """``type=`` for options that take an integer ≥ 1."""
    return _integer(text, 1, "a positive integer")


def nonnegative_int(text: str) -> int:
    """``type=`` for options that take an integer ≥ 0."""
    return _integer(text, 0, "a non-negative integer")


def positive_float(text: str) -> float:
    """``type=`` for options that take a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """``type=`` for options that take a finite number ≥ 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def int_at_least(low: int):
    """``type=`` for options that take an integer ≥ ``low``."""
    def parse(text: str) -> int:
        return _integer(text, low, f"an integer >= {low}")
    parse.__name__ = f"int_at_least_{low}"
    return parse


def _integer(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
