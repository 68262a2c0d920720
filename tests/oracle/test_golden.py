"""The committed golden set: hashes, drift against a fresh export, coverage, the meaning of
its arrays, and clear errors for tampered, truncated or missing files."""
import hashlib
import itertools
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conditioning import golden_conditions, solve_tol
from refimpl.cli import main as cli_main
from refimpl.modules import ACTIVATIONS
from refimpl.oracle import golden
from refimpl.oracle._npz import read_npz, write_npz
from refimpl.oracle.golden_catalog import default_cases
from refimpl.oracle.drift import drift_rtol
from refimpl.oracle.testing import load_cases

COMMITTED = golden.default_directory()
EPS = float(np.finfo(np.float64).eps)     # drift tolerances: 50·ε·κ for solves and updates


@pytest.fixture(scope="module")
def manifest():
    return golden.verify(COMMITTED)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("golden") / "set"
    golden.export(out)
    return out


@pytest.fixture
def copy(tmp_path):
    """A writable copy of the committed set."""
    dst = tmp_path / "golden"
    shutil.copytree(COMMITTED, dst)
    return dst


# -- the committed files ----------------------------------------------------------------------
def test_manifest_hashes_match_every_file(manifest):
    files = sorted(p.relative_to(COMMITTED).as_posix() for p in COMMITTED.rglob("*")
                   if p.is_file())
    assert sorted(manifest["files"]) == [f for f in files if f not in ("manifest.json",
                                                                          "SHA256SUMS")]
    for rel, meta in manifest["files"].items():
        data = (COMMITTED / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["sha256"] and len(data) == meta["bytes"]


def test_sha256sums_lists_every_file_including_the_manifest():
    lines = (COMMITTED / "SHA256SUMS").read_text().splitlines()
    sums = dict(reversed(line.split("  ", 1)) for line in lines)
    assert set(sums) == set(golden.read_manifest(COMMITTED)["files"]) | {"manifest.json"}
    for rel, digest in sums.items():
        assert hashlib.sha256((COMMITTED / rel).read_bytes()).hexdigest() == digest


def test_manifest_records_versions_and_conventions(manifest):
    from refimpl import __version__
    assert manifest["schema_version"] == golden.SCHEMA_VERSION
    assert manifest["package_version"] == __version__
    for key in ("parameter_order", "risk", "multipliers", "tolerance", "metric", "update"):
        assert manifest["conventions"][key]


def test_case_files_hold_exactly_the_listed_arrays_without_pickle(manifest):
    for name, entry in manifest["cases"].items():
        with np.load(COMMITTED / entry["file"], allow_pickle=False) as data:
            listed = [r["name"] for r in entry["inputs"]] + \
                [r["name"] for q in entry["quantities"].values() for r in q]
            assert sorted(data.files) == sorted(listed), name
            assert {data[k].dtype.str for k in data.files} <= {"<f8", "<i8"}
        with zipfile.ZipFile(COMMITTED / entry["file"]) as zf:
            assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}


# -- drift: regenerate and compare ----------------------------------------------------------------
def test_regenerated_set_has_the_same_cases_parameters_and_readme(manifest, regenerated):
    fresh = golden.verify(regenerated)
    assert list(fresh["cases"]) == list(manifest["cases"]) == [c["name"] for c in default_cases()]
    strip = ("quantities", "modules", "condition_number_network")
    for name, entry in manifest["cases"].items():
        new = fresh["cases"][name]
        assert {k: v for k, v in entry.items() if k not in strip} == \
            {k: v for k, v in new.items() if k not in strip}, name
    assert {k: v for k, v in fresh.items() if k not in ("cases", "files")} == \
        {k: v for k, v in manifest.items() if k not in ("cases", "files")}
    assert (regenerated / "README.md").read_text() == (COMMITTED / "README.md").read_text()


def test_regenerated_values_agree_with_the_committed_ones(manifest, regenerated):
    """Inputs to 1e-14, solves and updates to 50·ε·κ of their G, the rest to 1e-12
    (drift.drift_rtol): drift in any quantity is caught, rounding across machines is not."""
    for name, entry in manifest["cases"].items():
        old, new = read_npz(COMMITTED / entry["file"]), read_npz(regenerated / entry["file"])
        assert sorted(old) == sorted(new)
        for key, want in old.items():
            tol = drift_rtol(key, entry)
            scale = np.max(np.abs(want)) if want.size else 0.0
            err = np.abs(new[key] - want)
            assert np.all(err <= tol * (np.abs(want) + scale)), (
                f"{name}: {key} drifted by {err.max():.3g} (tolerance {tol:g} relative); if "
                "the change is intended, regenerate with `refimpl oracle export` and commit "
                "refimpl/oracle/golden_set and golden_pin.py")



def test_drift_tolerance_follows_the_conditioning(manifest):
    name = "mlp-sigmoid-small-mse-custom-tiny"                   # cond(G_2) = 2.1e5
    entry = manifest["cases"][name]
    cond = {m["path"]: m["condition_number"] for m in entry["modules"]}
    assert cond["2"] > 1e5
    assert drift_rtol("solve/2", entry) == 50 * EPS * cond["2"]
    assert drift_rtol("update_layer/2/W", entry) == 50 * EPS * cond["2"]
    assert drift_rtol("update_network/0/b", entry) == max(
        1e-12, 50 * EPS * entry["condition_number_network"])
    assert drift_rtol("grads/2/W", entry) == drift_rtol("metric/0", entry) == 1e-12
    assert drift_rtol("X", entry) == drift_rtol("v/2", entry) == 1e-14


def test_export_is_byte_reproducible(tmp_path):
    cases = [c for c in default_cases() if c["name"].startswith(("two_branch", "mlp-gelu"))]
    a = golden.export(tmp_path / "a", cases=cases)
    b = golden.export(tmp_path / "b", cases=cases)
    assert a["files"] == b["files"]
    for rel in ("manifest.json", "SHA256SUMS", "README.md"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_npz_writer_ignores_the_clock_and_keeps_scalars_0d(tmp_path):
    arrays = {"x": np.arange(6.0).reshape(2, 3), "s": np.array(2.5), "i": np.arange(3)}
    write_npz(tmp_path / "a.npz", arrays)
    with zipfile.ZipFile(tmp_path / "a.npz") as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    back = read_npz(tmp_path / "a.npz")
    assert back["s"].shape == () and back["x"].flags.c_contiguous
    for k, v in arrays.items():
        np.testing.assert_array_equal(back[k], v)


# -- coverage of the case matrix ---------------------------------------------------------------
def test_the_set_covers_the_matrix_and_stays_small(manifest):
    cases = manifest["cases"].values()
    assert 40 <= len(manifest["cases"]) <= 80
    assert sum(f["bytes"] for f in manifest["files"].values()) < 5e6
    mlp = [c for c in cases if c["kind"] == "mlp" and len(c["widths"]) > 2]
    assert {(c["activation"], c["loss"]) for c in mlp} == \
        set(itertools.product(ACTIVATIONS, ("mse", "cross_entropy")))
    assert {(c["loss"], c["output_metric"], c["mass"]["kind"]) for c in cases} == \
        set(itertools.product(("mse", "cross_entropy"), ("identity", "gauss-newton", "custom"),
                              ("scalar", "tiny", "large", "per-parameter")))
    assert any(c["batch"] == 1 for c in mlp) and any(c["output_dim"] == 1 for c in cases)
    assert {n.split("-")[0] for n, c in manifest["cases"].items()
            if c["kind"] == "composite"} == {"residual", "two_branch"}
    r = {c["batch"] * c["output_dim"] > m["size"] for c in cases for m in c["modules"]}
    assert r == {True, False}                        # both S·k > n_m and S·k < n_m occur


def test_solve_vectors_are_not_in_the_span_of_the_jacobians():
    """‖P⊥ v‖ ≥ 0.1 ‖v‖ where range(B̃ᵀ) (the range of G_m − M_m) is not everything, so a
    solve that drops the M⁻¹v part fails."""
    checked = 0
    for case in load_cases():
        for m in case.modules:
            G = case.arrays["metric/" + m if m else "metric"]
            mass = (np.full(G.shape[0], case.mass) if isinstance(case.mass, float) else
                    np.concatenate([case.mass[n].ravel() for n in case.param_names
                                    if n.rsplit("/", 1)[0] == m]))
            w, U = np.linalg.eigh(G - np.diag(mass))
            span = U[:, w > 1e-10 * max(w.max(), 1e-300)]
            if span.shape[1] == G.shape[0]:
                continue
            v = case.v[m]
            off = v - span @ (span.T @ v)
            assert np.linalg.norm(off) > 0.1 * np.linalg.norm(v), (case.name, m)
            checked += 1
    assert checked > 100


def test_committed_arrays_mean_what_the_readme_says():
    """Solves, updates and metric blocks are consistent with each other (dense algebra): the
    residual of each solve within solve_tol(κ)·max|G|·max|x| (measured ≤ 3.2·ε·κ·max|G|max|x|,
    Woodbury's residual is not backward stable in G alone, so it grows with κ)."""
    for case in load_cases():
        kappa = golden_conditions(case)
        G = case.arrays["metric_network"]
        grad = np.concatenate([case.arrays[f"grads/{n}"].ravel() for n in case.param_names])
        upd = np.concatenate([case.arrays[f"update_network/{n}"].ravel()
                              for n in case.param_names])
        rows = {r["name"]: r for r in case.rows("update_network")}
        np.testing.assert_allclose(G @ upd, -case.lr * grad, rtol=0, atol=solve_tol(
            kappa["network"]) * np.abs(G).max() * np.abs(upd).max())
        start = 0
        for m in case.modules:
            Gm = case.arrays["metric/" + m]
            n = Gm.shape[0]
            np.testing.assert_array_equal(G[start:start + n, start:start + n], Gm)
            x = case.arrays["solve/" + m]
            np.testing.assert_allclose(Gm @ x, case.v[m], rtol=0, atol=solve_tol(kappa[m]) *
                                       np.abs(Gm).max() * np.abs(x).max())
            start += n
        assert all(r["atol"] > 0 for r in rows.values())


# -- tampered, truncated, missing ----------------------------------------------------------------
def _a_case(directory):
    manifest = golden.read_manifest(directory)
    name = next(iter(manifest["cases"]))
    return name, directory / manifest["cases"][name]["file"]


def test_a_modified_case_file_is_a_clear_error(copy):
    name, path = _a_case(copy)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"{path.name}: SHA-256 .* does not match"):
        golden.load_case(copy, name)
    with pytest.raises(ValueError, match=path.name):
        load_cases(copy)
    with pytest.raises(ValueError, match=path.name):
        golden.verify(copy)


def test_a_truncated_case_file_is_a_clear_error(copy):
    name, path = _a_case(copy)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match=rf"{path.name}: 1000 bytes, the manifest says"):
        golden.load_case(copy, name)


def test_a_corrupt_file_with_a_matching_hash_is_still_a_clear_error(copy):
    """Even if someone updates the manifest, an unreadable archive names the file."""
    name, path = _a_case(copy)
    path.write_bytes(path.read_bytes()[:500])
    manifest = json.loads((copy / "manifest.json").read_text())
    rel = manifest["cases"][name]["file"]
    manifest["files"][rel] = {"sha256": golden.sha256_file(path), "bytes": 500}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=rf"{path.name}: not a readable NPZ file"):
        golden.load_case(copy, name)


def test_missing_files_and_bad_manifests_are_clear_errors(copy, tmp_path):
    name, path = _a_case(copy)
    path.unlink()
    with pytest.raises(ValueError, match=rf"{path.name}: listed in the manifest but missing"):
        golden.load_case(copy, name)
    with pytest.raises(ValueError, match="manifest.json not found"):
        golden.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="manifest.json: not valid JSON"):
        golden.read_manifest(tmp_path)
    m = json.loads((COMMITTED / "manifest.json").read_text())
    m["schema_version"] = 99
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="schema version 99"):
        golden.read_manifest(tmp_path)
    with pytest.raises(ValueError, match="no case 'nope'"):
        golden.load_case(COMMITTED, "nope")


# -- writing atomically --------------------------------------------------------------------------
def test_export_refuses_a_directory_that_is_not_a_golden_set(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="without a manifest.json; refusing"):
        golden.export(tmp_path, cases=default_cases()[:1])
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_failing_export_leaves_the_old_set_and_no_temporary_files(tmp_path, monkeypatch):
    out = tmp_path / "set"
    cases = default_cases()[:3]
    golden.export(out, cases=cases)
    before = (out / "manifest.json").read_bytes()
    real = golden.build_case

    def flaky(spec):
        if spec["name"] == cases[2]["name"]:
            raise RuntimeError("boom")
        return real(spec)

    monkeypatch.setattr(golden, "build_case", flaky)
    with pytest.raises(RuntimeError, match="boom"):
        golden.export(out, cases=cases)
    assert (out / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


def test_cli_export_and_verify(tmp_path, capsys):
    out = tmp_path / "g"
    assert cli_main(["oracle", "export", "--out", str(out), "--only", "two_branch"]) == 0
    assert "wrote 4 cases" in capsys.readouterr().out
    assert cli_main(["oracle", "verify", str(out), "--regenerate"]) == 0
    assert "4/4 cases pass" in capsys.readouterr().out
    name, path = _a_case(out)
    path.write_bytes(path.read_bytes()[:-10])
    assert cli_main(["oracle", "verify", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("refimpl oracle: error:") and path.name in err and "\n" not in err
    assert cli_main(["oracle", "export", "--out", str(out), "--only", "zzz"]) == 1
    assert "no case name contains 'zzz'" in capsys.readouterr().err


def test_the_shipped_set_is_package_data(monkeypatch, capsys, tmp_path):
    """Inside the imported refimpl package (site-packages for an installed wheel), read by
    default; `export` rewrites it without --out only in a source checkout."""
    import refimpl
    monkeypatch.delenv("REFIMPL_GOLDEN", raising=False)
    shipped = Path(refimpl.__file__).parent / "oracle" / "golden_set"
    assert golden.shipped_directory() == golden.default_directory() == shipped
    assert {p.name for p in shipped.iterdir()} == {"README.md", "SHA256SUMS", "manifest.json",
                                                     "cases"}
    assert cli_main(["oracle", "verify"]) == 0
    assert capsys.readouterr().out.startswith(f"{shipped}: ")
    installed = tmp_path / "site-packages" / "refimpl" / "oracle" / "golden_set"
    monkeypatch.setattr(golden, "shipped_directory", lambda: installed)
    assert cli_main(["oracle", "export"]) == 1
    err = capsys.readouterr().err
    assert "belongs to an installed refimpl" in err and "--out DIR" in err
    assert not installed.exists()
    monkeypatch.setenv("REFIMPL_GOLDEN", "/nonexistent/golden")
    assert golden.default_directory() == Path("/nonexistent/golden")
