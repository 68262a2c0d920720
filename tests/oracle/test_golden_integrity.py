"""A golden set's manifest is itself verified: against SHA256SUMS, against refimpl's case
definitions and tolerance rules, and (the shipped set) against the digests pinned in the
package. Every tampering path on real files in a temporary copy, each a clear error."""
import json
import shutil
import types

import numpy as np
import pytest

from refimpl.cli import main as cli_main
from refimpl.oracle import golden, golden_integrity, golden_pin
from refimpl.oracle import testing as T
from refimpl.oracle._npz import read_npz, write_npz
from refimpl.oracle.golden_catalog import default_cases

CASES = ("mlp-none-linear-mse-gauss-newton-scalar", "two_branch-mse-identity-scalar")


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """A two-case set exported by this refimpl, and a pin for it as the package would hold."""
    out = tmp_path_factory.mktemp("small") / "set"
    manifest = golden.export(out, cases=[c for c in default_cases() if c["name"] in CASES])
    digest = golden.sha256_file(out / "manifest.json")
    pin = types.ModuleType("pin")
    exec(golden_integrity.render_pin(manifest, digest), pin.__dict__)
    return out, pin


@pytest.fixture
def copy(small_set, tmp_path, monkeypatch):
    """A writable copy of the small set; ``golden._pin`` returns the small set's pin."""
    src, pin = small_set
    monkeypatch.setattr(golden, "_pin", lambda: pin)
    dst = tmp_path / "golden"
    shutil.copytree(src, dst)
    return dst


def _edit_manifest(directory, change):
    manifest = json.loads((directory / "manifest.json").read_text())
    change(manifest)
    (directory / "manifest.json").write_text(golden._dump_json(manifest))


def _reseal(directory):
    """What someone editing "both" does: make manifest.json's file table and SHA256SUMS agree
    with the files as they are now."""
    def rehash(manifest):
        for rel in manifest["files"]:
            path = directory / rel
            manifest["files"][rel] = {"sha256": golden.sha256_file(path),
                                      "bytes": path.stat().st_size}
    _edit_manifest(directory, rehash)
    files = sorted(json.loads((directory / "manifest.json").read_text())["files"])
    lines = [f"{golden.sha256_file(directory / f)}  {f}\n" for f in files + ["manifest.json"]]
    (directory / "SHA256SUMS").write_text("".join(sorted(lines, key=lambda s: s.split()[1])))


def _raise_tolerances(manifest):
    for entry in manifest["cases"].values():
        for rows in entry["quantities"].values():
            for row in rows:
                row["rtol"] = 0.5


def _set_lr(manifest):
    manifest["cases"][CASES[0]]["lr"] = 0.7


# -- the shipped set and its pin -------------------------------------------------------------
def test_the_shipped_set_is_pinned_in_the_package():
    manifest = golden.verify(golden.shipped_directory(), pinned=True)
    assert {rel: m["sha256"] for rel, m in manifest["files"].items()} == golden_pin.FILES
    assert golden.sha256_file(golden.shipped_directory() / "manifest.json") == \
        golden_pin.MANIFEST_SHA256
    assert golden.is_shipped(golden.shipped_directory())


def test_an_untouched_copy_passes(copy):
    assert list(golden.verify(copy, pinned=True)["cases"]) == list(CASES)


# -- the manifest against the code -----------------------------------------------------------
@pytest.mark.parametrize("reseal", [False, True], ids=["manifest-only", "with-SHA256SUMS"])
def test_raised_tolerances_are_named_with_both_values(copy, reseal):
    _edit_manifest(copy, _raise_tolerances)
    if reseal:
        _reseal(copy)
    with pytest.raises(ValueError) as err:
        golden.verify(copy)
    text = str(err.value)
    assert "manifest.json is not what refimpl writes" in text and "in 2 cases" in text
    assert f"case {CASES[0]!r}: quantities.loss[loss].rtol: 0.5 in the manifest, 1e-12 by " \
           "refimpl's rules" in text
    assert "refimpl oracle export" in text


@pytest.mark.parametrize("reseal", [False, True], ids=["manifest-only", "with-SHA256SUMS"])
def test_a_changed_lr_is_named_with_both_values(copy, reseal):
    _edit_manifest(copy, _set_lr)
    if reseal:
        _reseal(copy)
    with pytest.raises(ValueError, match=rf"1 difference in 1 case\): case '{CASES[0]}': lr: "
                                         r"0.7 in the manifest, 0.5 in refimpl's case "
                                         r"definition \(refimpl/oracle/golden_catalog.py\)"):
        golden.verify(copy)


@pytest.mark.parametrize("field, value, named", [
    ("batch", 3, "batch: 3 in the manifest, 4 in refimpl's case definition"),
    ("seed", 1, "seed: 1 in the manifest"),
    ("weight_scale", 2.0, "weight_scale: 2.0 in the manifest, 1.0"),
    ("condition_number_network", 1.0, "condition_number_network: 1.0 in the manifest"),
])
def test_any_changed_entry_field_is_named(copy, field, value, named):
    _edit_manifest(copy, lambda m: m["cases"][CASES[0]].__setitem__(field, value))
    _reseal(copy)
    with pytest.raises(ValueError, match=named):
        golden.verify(copy)


def test_changed_conventions_and_unknown_cases_are_errors(copy):
    _edit_manifest(copy, lambda m: m["conventions"].__setitem__("risk", "a sum"))
    _reseal(copy)
    with pytest.raises(ValueError, match=r"conventions.risk: 'a sum' in the manifest, 'R = "):
        golden.verify(copy)
    _edit_manifest(copy, lambda m: m.__setitem__("cases", {"mine": m["cases"][CASES[0]]}))
    _reseal(copy)
    with pytest.raises(ValueError, match="'mine' are not defined in this refimpl's"):
        golden.verify(copy)


def test_a_changed_lr_inside_the_case_file_is_named(copy):
    path = copy / "cases" / f"{CASES[0]}.npz"
    arrays = read_npz(path)
    arrays["lr"] = np.array(0.7)
    write_npz(path, arrays)
    _reseal(copy)
    with pytest.raises(ValueError, match=rf"the array 'lr' in cases/{CASES[0]}.npz holds 0.7, "
                                         r"0.5 in refimpl's case definition"):
        golden.verify(copy)


# -- SHA256SUMS -------------------------------------------------------------------------------
def test_a_reformatted_manifest_fails_against_sha256sums(copy):
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=4))
    with pytest.raises(ValueError, match=r"manifest.json: SHA-256 [0-9a-f]{64} does not match "
                                         r"[0-9a-f]{64} in SHA256SUMS: manifest.json .* was "
                                         "modified"):
        golden.verify(copy)


@pytest.mark.parametrize("spoil, message", [
    (lambda p: p.unlink(), "SHA256SUMS not found"),
    (lambda p: p.write_text(p.read_text() + "not a line\n"),
     r"SHA256SUMS, line 5: expected '<64 hex digits>  <file>'"),
    (lambda p: p.write_text("".join(p.read_text().splitlines(True)[1:])),
     "does not list the set's files: missing README.md"),
    (lambda p: p.write_text(p.read_text() + f"{'0' * 64}  extra.txt\n"),
     "lists extra.txt, which manifest.json does not"),
])
def test_a_missing_or_spoilt_sha256sums_is_an_error(copy, spoil, message):
    spoil(copy / "SHA256SUMS")
    with pytest.raises(ValueError, match=message):
        golden.verify(copy)


# -- the pin ----------------------------------------------------------------------------------
def test_a_changed_value_with_every_digest_updated_is_caught_by_the_pin(copy):
    path = copy / "cases" / f"{CASES[0]}.npz"
    arrays = read_npz(path)
    grads = next(a for k, a in arrays.items() if k.startswith("grads/") and a.size > 1)
    i = np.unravel_index(np.argmin(np.abs(grads)), grads.shape)   # not the array's maximum,
    grads[i] *= 1.5                                                # so its atol stays
    write_npz(path, arrays)
    _reseal(copy)
    golden.verify(copy)                             # consistent, so only the pin can tell
    with pytest.raises(ValueError, match=rf"not the golden set shipped with refimpl .*cases/"
                                         rf"{CASES[0]}.npz: SHA-256 [0-9a-f]+, the package "
                                         "pins"):
        golden.verify(copy, pinned=True)
    with pytest.raises(ValueError, match=CASES[0]):
        T.load_cases(copy, pinned=True)


def test_a_changed_package_version_is_caught_by_the_pin(copy):
    _edit_manifest(copy, lambda m: m.__setitem__("package_version", "9.9"))
    _reseal(copy)
    golden.verify(copy)
    with pytest.raises(ValueError, match=r"differs in package_version '9.9' \(pinned '"):
        golden.verify(copy, pinned=True)


def test_export_rewrites_the_pin_only_for_the_complete_shipped_set(tmp_path, monkeypatch):
    monkeypatch.setattr(golden, "PIN_FILE", tmp_path / "pin.py")
    subset = [c for c in default_cases() if c["name"] in CASES]
    with pytest.raises(ValueError, match="holds every default case"):
        golden.export(tmp_path / "set", cases=subset, pin=True)
    golden.export(tmp_path / "set", cases=subset)
    assert not (tmp_path / "pin.py").exists()


# -- every loader and the command line go through the same checks -----------------------------
def test_check_functions_refuse_a_tampered_set(copy):
    _edit_manifest(copy, _raise_tolerances)
    _reseal(copy)
    with pytest.raises(ValueError, match="rtol: 0.5 in the manifest"):
        T.check_loss(lambda case: 0.0, directory=copy)
    with pytest.raises(ValueError, match="rtol: 0.5 in the manifest"):
        golden.load_case(copy, CASES[0])


def test_cli_verify_names_the_change_in_one_line(copy, capsys):
    assert cli_main(["oracle", "verify", str(copy), "--pinned"]) == 0
    assert "the set is the one shipped with refimpl" in capsys.readouterr().out
    _edit_manifest(copy, _set_lr)
    _reseal(copy)
    assert cli_main(["oracle", "verify", str(copy)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("refimpl oracle: error:") and err.count("\n") == 1
    assert "lr: 0.7 in the manifest, 0.5" in err and "Traceback" not in err
