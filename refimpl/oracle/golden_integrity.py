"""Is a golden set the one refimpl's code defines? The checks beyond each file's own hash.

A golden set decides pass or fail for other backends, and ``manifest.json`` holds what decides
it (each array's ``rtol`` and ``atol``, each case's ``lr`` and mass). So
:func:`refimpl.oracle.golden.verify` checks the manifest itself, in three ways:

1. **Against the code** (:func:`check_manifest`). Every case must be one of
   :func:`~refimpl.oracle.golden_catalog.default_cases`, and its whole manifest entry must be
   what :func:`~refimpl.oracle.golden_build.manifest_entry` computes from that definition and
   the case's (hash-verified) arrays: the parameters (architecture, loss, output metric,
   mass, batch, ``lr``, weight scale, seed) come from the definition; the parameter, module
   and array lists, the condition numbers and every ``rtol``/``atol`` are recomputed from
   the arrays by the rules of :mod:`~refimpl.oracle.golden_build`. The scalars stored in the
   case file (``lr``, ``mass``) must equal the definition too, and the top-level conventions
   and quantity names must be refimpl's. A difference is an error naming the case, the
   field, and both values; editing ``manifest.json`` and ``SHA256SUMS`` together does not
   get past it.
2. **Against SHA256SUMS** (:func:`check_sha256sums`): it lists every file and
   ``manifest.json`` (``sha256sum -c`` format), with the manifest's own digests.
3. **Against the package** (:func:`check_pin`), for the set shipped with refimpl:
   ``golden_pin.py``, written by ``refimpl oracle export`` when it writes the shipped set,
   holds the SHA-256 of every file and of ``manifest.json``. A case file changed together
   with its digests in the manifest and SHA256SUMS (which check 1 cannot see when the change
   keeps the derived fields) is caught here, by name.

A set other than the shipped one (an export into another folder, on another machine) passes
checks 1 and 2 but not 3: its arrays may differ from the shipped ones in the last bits.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .golden_build import manifest_entry
from .golden_catalog import default_cases

SUMS = "SHA256SUMS"
_MAX_LISTED = 6
_CODE = "refimpl/oracle/golden_catalog.py"
_RESTORE = ("restore the set (git checkout, or reinstall refimpl for the shipped one) or "
            "regenerate it with `refimpl oracle export`")


# -- 1. the manifest against the code -------------------------------------------------------
def expected_top_level() -> dict:
    """The manifest's fields that do not depend on the cases: refimpl's constants."""
    from .golden import CONVENTIONS, PREFIX, QUANTITIES, SCHEMA_VERSION
    return {"format": "refimpl-golden", "schema_version": SCHEMA_VERSION, "package": "refimpl",
            "conventions": CONVENTIONS, "quantities": {q: PREFIX[q] for q in QUANTITIES}}


def check_manifest(directory: Path, manifest: dict, arrays: dict) -> None:
    """``ValueError`` listing every field of ``manifest`` that differs from what refimpl's code
    writes for the case files ``arrays`` (``{case name: {array name: array}}``)."""
    diffs = [("", f"{path}: {_show(got)} in the manifest, {_show(want)} in refimpl")
             for key, want in expected_top_level().items()
             for path, got, want in _diff(manifest.get(key), want, key)]
    definitions = {spec["name"]: spec for spec in default_cases()}
    unknown = [name for name in manifest["cases"] if name not in definitions]
    if unknown:
        raise ValueError(
            f"{directory / 'manifest.json'}: case(s) {', '.join(map(repr, unknown[:4]))}"
            f"{' …' if len(unknown) > 4 else ''} are not defined in this refimpl's {_CODE}, so "
            "their parameters and tolerances cannot be checked; verify the set with the "
            "refimpl that wrote it, or regenerate it with `refimpl oracle export`")
    for name, entry in manifest["cases"].items():
        diffs += [(name, d)
                  for d in _entry_differences(definitions[name], entry, arrays[name])]
    if diffs:
        n_cases = len({name for name, _ in diffs if name})
        listed, last = [], None
        for name, text in diffs[:_MAX_LISTED]:
            listed.append(f"case {name!r}: {text}" if name and name != last else text)
            last = name
        more = len(diffs) - _MAX_LISTED
        raise ValueError(
            f"{directory / 'manifest.json'} is not what refimpl writes for these case files "
            f"({len(diffs)} difference{'s' if len(diffs) > 1 else ''}"
            + (f" in {n_cases} case{'s' if n_cases > 1 else ''}" if n_cases else "") + "): "
            + "; ".join(listed) + (f"; … and {more} more" if more > 0 else "")
            + f". The file that decides pass or fail was edited: {_RESTORE}")


_DEFINED = ("file", "kind", "widths", "activation", "architecture", "loss", "output_metric",
            "mass", "batch", "output_dim", "lr", "weight_scale", "seed")
"""Entry fields set by the case definition; the others are derived from the arrays."""


def _entry_differences(spec: dict, entry, stored: dict) -> list[str]:
    """What differs between a manifest entry (and its file's scalars) and refimpl's."""
    if not isinstance(entry, dict):
        return [f"the entry is a {type(entry).__name__}, not a JSON object"]
    out = []
    for key, want in (("lr", spec["lr"]), ("mass", _scalar_mass(spec))):
        got = stored.get(key)
        if want is not None and got is not None and (got.shape != () or float(got) != want):
            out.append(f"the array {key!r} in {entry.get('file', 'its file')} holds "
                       f"{_show(got.tolist())}, {_show(want)} in refimpl's case definition "
                       f"({_CODE})")
    want = manifest_entry(spec, stored)
    if _canonical(entry) == _canonical(want):
        return out
    diffs = _diff(entry, want, "")
    if diffs:  # a condition number at a rounding boundary may round the other way elsewhere
        for scale in (1 - 1e-9, 1 + 1e-9):
            if not _diff(entry, manifest_entry(spec, stored, cond_scale=scale), ""):
                return out
    for path, got, want in diffs:
        head = re.split(r"[.\[]", path, maxsplit=1)[0]
        source = (f"in refimpl's case definition ({_CODE})" if head in _DEFINED
                  else "by refimpl's rules from the case's arrays")
        out.append(f"{path}: {_show(got)} in the manifest, {_show(want)} {source}")
    return out


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True)


def _scalar_mass(spec):
    from .golden_catalog import MASSES
    return None if spec["mass"] == "per-parameter" else float(MASSES[spec["mass"]])


_ABSENT = "<absent>"


def _diff(found, want, path: str) -> list[tuple]:
    """``(path, found, want)`` for every leaf where ``found`` differs from ``want``; lists of
    rows are matched by their ``name`` (or ``path``), so a path reads
    ``quantities.solve[solve/0].rtol``."""
    if isinstance(want, dict) and isinstance(found, dict):
        out = []
        for key in want:
            sub = f"{path}.{key}" if path else key
            out += (_diff(found[key], want[key], sub) if key in found
                    else [(sub, _ABSENT, want[key])])
        return out + [(f"{path}.{key}" if path else key, found[key], _ABSENT)
                      for key in found if key not in want]
    if isinstance(want, list) and isinstance(found, list) and len(found) == len(want):
        keys = [_row_key(w, i) for i, w in enumerate(want)]
        if [_row_key(f, i) for i, f in enumerate(found)] == keys:
            return [d for k, f, w in zip(keys, found, want) for d in _diff(f, w, f"{path}[{k}]")]
    return [] if _same(found, want) else [(path, found, want)]


def _row_key(row, index):
    return row.get("name", row.get("path", index)) if isinstance(row, dict) else index


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def _show(value) -> str:
    text = value if value is _ABSENT else repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


# -- 2. SHA256SUMS ----------------------------------------------------------------------------
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def read_sums(directory: Path) -> dict:
    """``{relative path: hex SHA-256}`` of the set's ``SHA256SUMS`` (``sha256sum`` format)."""
    path = directory / SUMS
    if not path.is_file():
        raise ValueError(f"{path} not found: every golden set carries {SUMS}, which covers "
                         f"manifest.json; {_RESTORE}")
    sums = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = _LINE.match(line)
        if not match:
            raise ValueError(f"{path}, line {number}: expected '<64 hex digits>  <file>' "
                             f"(sha256sum format), got {line[:80]!r}; {_RESTORE}")
        sums[match.group(2)] = match.group(1)
    return sums


def check_sha256sums(directory: Path, manifest: dict, manifest_digest: str) -> None:
    """``SHA256SUMS`` lists exactly the manifest's files and ``manifest.json``, each with the
    digest the manifest records (and, for the manifest, its actual digest)."""
    sums = read_sums(directory)
    path = directory / SUMS
    want = set(manifest["files"]) | {"manifest.json"}
    missing, extra = sorted(want - set(sums)), sorted(set(sums) - want)
    if missing or extra:
        raise ValueError(f"{path} does not list the set's files: "
                         + "; ".join(part for part in (
                             f"missing {', '.join(missing)}" if missing else "",
                             f"lists {', '.join(extra)}, which manifest.json does not"
                             if extra else "") if part) + f"; {_RESTORE}")
    if sums["manifest.json"] != manifest_digest:
        raise ValueError(f"{directory / 'manifest.json'}: SHA-256 {manifest_digest} does not "
                         f"match {sums['manifest.json']} in {SUMS}: manifest.json (which holds "
                         f"the tolerances that decide pass or fail) was modified; {_RESTORE}")
    for rel, meta in manifest["files"].items():
        if sums[rel] != meta["sha256"]:
            raise ValueError(f"{path} and manifest.json disagree on {rel} ({sums[rel]} vs "
                             f"{meta['sha256']}); {_RESTORE}")


# -- 3. the pin of the shipped set ----------------------------------------------------------
def check_pin_files(directory: Path, manifest: dict, pin) -> None:
    """The manifest's file table equals the digests refimpl pins for its shipped set."""
    where = "refimpl/oracle/golden_pin.py"
    if pin.FILES is None:
        raise ValueError(f"this refimpl pins no shipped golden set ({where} is empty); write "
                         "it with `refimpl oracle export` (no --out)")
    got = {rel: meta["sha256"] for rel, meta in manifest["files"].items()}
    changed = [rel for rel in pin.FILES if rel in got and got[rel] != pin.FILES[rel]]
    missing = [rel for rel in pin.FILES if rel not in got]
    extra = [rel for rel in got if rel not in pin.FILES]
    if changed or missing or extra:
        parts = [f"{rel}: SHA-256 {got[rel]}, the package pins {pin.FILES[rel]}"
                 for rel in changed[:_MAX_LISTED]]
        if len(changed) > _MAX_LISTED:
            parts.append(f"… and {len(changed) - _MAX_LISTED} more changed files")
        if missing:
            parts.append(f"missing {', '.join(missing[:_MAX_LISTED])}")
        if extra:
            parts.append(f"not shipped: {', '.join(extra[:_MAX_LISTED])}")
        raise ValueError(
            f"{directory} is not the golden set shipped with refimpl {pin.PACKAGE_VERSION} ("
            + "; ".join(parts) + f"; pinned in {where}): its files were changed and their "
            f"digests in manifest.json and {SUMS} updated to match; restore the shipped set "
            "(git checkout, or reinstall refimpl), or, if the change is intended, regenerate "
            "it with `refimpl oracle export`, which rewrites the pin")


def check_pin_manifest(directory: Path, manifest: dict, manifest_digest: str, pin) -> None:
    """``manifest.json`` itself is the pinned one (after every other check has passed, only
    the package version or the JSON's formatting can still differ)."""
    if manifest_digest == pin.MANIFEST_SHA256:
        return
    what = (f"package_version {manifest.get('package_version')!r} (pinned "
            f"{pin.PACKAGE_VERSION!r})"
            if manifest.get("package_version") != pin.PACKAGE_VERSION
            else "only its formatting (its content agrees with refimpl's)")
    raise ValueError(f"{directory / 'manifest.json'}: SHA-256 {manifest_digest} is not the "
                     f"pinned {pin.MANIFEST_SHA256} of the shipped set; it differs in {what}; "
                     f"{_RESTORE}")


def render_pin(manifest: dict, manifest_digest: str) -> str:
    """The text of ``golden_pin.py`` for a freshly exported shipped set."""
    lines = ['"""The identity of the golden set shipped with refimpl: the SHA-256 of every file.',
             "",
             "Written by ``refimpl oracle export`` when it writes the shipped set (no ``--out``);",
             "read by :func:`refimpl.oracle.golden.verify` (:mod:`.golden_integrity`, check 3).",
             'Do not edit by hand: regenerate the set instead.', '"""', "",
             f"PACKAGE_VERSION = {manifest['package_version']!r}",
             f"MANIFEST_SHA256 = {manifest_digest!r}", "FILES = {"]
    lines += [f"    {rel!r}:\n        {meta['sha256']!r}," for rel, meta in
              sorted(manifest["files"].items())]
    lines += ["}", ""]
    return "\n".join(lines)

