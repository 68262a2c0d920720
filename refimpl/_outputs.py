"""Output folders: checked before any work, created or replaced atomically (private module).

Every command that writes a folder (``train``, ``reproduce``, ``stability``, ``oracle
export``, ``data fetch``) calls :func:`check_output_dir` before it computes anything, so a
bad path fails in a second, not after the experiment. Folders replaced as a whole
(``reproduce --overwrite``, ``oracle export``) are built in a staging folder beside the target
(:func:`staging_dir`, same file system) and swapped in by :func:`replace_dir`, so a reader
sees the old content or the new, never a mixture.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def check_output_dir(path, option: str = "--out") -> Path:
    """``path`` as a ``Path`` if it is, or can be created as, a folder we may write in.

    Nothing is created. ``ValueError`` (naming ``option``) if ``path`` is a file, if one of
    its ancestors is a file, or if the nearest existing ancestor is not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file, not a folder; choose another {option} "
                         "or remove the file")
    ancestor = path
    while not ancestor.exists():
        if ancestor.is_symlink():
            raise ValueError(f"{option} {path}: {ancestor} is a broken symbolic link; "
                             f"choose another {option}")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"{option} {path} cannot be created: {ancestor} is a file, not a "
                         f"folder; choose another {option}")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: no permission to write in {ancestor}; choose a "
                         f"folder you can write to with {option}")
    return path


def make_dirs(path: Path) -> list[Path]:
    """Create ``path`` with its missing parents; return the folders created, deepest first
    (for :func:`remove_empty_dirs` after a failure)."""
    missing, p = [], Path(path)
    while not p.exists():
        missing.append(p)
        p = p.parent
    path.mkdir(parents=True, exist_ok=True)
    return missing


def remove_empty_dirs(created: list[Path]) -> None:
    """Remove the folders of :func:`make_dirs` again, deepest first, as long as they are empty."""
    for p in created:
        try:
            p.rmdir()
        except OSError:
            return


def staging_dir(out: Path) -> Path:
    """A new empty folder beside ``out`` (its parent created if missing) to build into."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))


def replace_dir(new: Path, out: Path) -> None:
    """Put the folder ``new`` in the place of ``out`` (absent, or an existing folder that is
    then deleted). Each rename is atomic; if the second fails the old folder is put back."""
    if not out.exists():
        os.rename(new, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)
    try:
        os.rename(new, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
