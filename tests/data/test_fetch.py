"""fetch against a loopback HTTP server: verified files land, bad ones leave nothing behind.

The checksum table is monkeypatched so that generated files are "the" expected ones.
"""
from __future__ import annotations

import hashlib
import re
import socket

import pytest

from refimpl.data import checksums, fetch, load_dataset
from refimpl.data.checksums import RemoteFile

FILES = {"a.bin": b"first file " * 1000, "b.bin": bytes(range(256)) * 300}


def _pin(monkeypatch, base_url, files=FILES, name="mnist"):
    """Make ``files`` the expected content of data set ``name``, hosted at ``base_url``."""
    table = tuple(RemoteFile(f, base_url + f, len(data), hashlib.sha256(data).hexdigest())
                  for f, data in files.items())
    monkeypatch.setitem(checksums.SOURCES, name, table)


def _serve(root, files):
    for f, data in files.items():
        (root / f).write_bytes(data)


def test_good_files_are_downloaded_and_verified(http_root, tmp_path, monkeypatch):
    root, url = http_root
    _serve(root, FILES)
    _pin(monkeypatch, url)
    seen = []
    paths = fetch("mnist", tmp_path / "out", progress=lambda *a: seen.append(a))
    assert [p.name for p in paths] == list(FILES)
    assert all(p.read_bytes() == FILES[p.name] for p in paths)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(FILES)
    assert seen[-1] == ("b.bin", len(FILES["b.bin"]), len(FILES["b.bin"]))


def test_present_verified_files_are_not_downloaded_again(http_root, tmp_path, monkeypatch):
    root, url = http_root
    _serve(root, FILES)
    _pin(monkeypatch, url)
    fetch("mnist", tmp_path)
    for f in FILES:
        (root / f).unlink()  # a second download would now be a 404
    assert [p.name for p in fetch("mnist", tmp_path)] == list(FILES)


def test_present_wrong_file_is_replaced(http_root, tmp_path, monkeypatch):
    root, url = http_root
    _serve(root, FILES)
    _pin(monkeypatch, url)
    (tmp_path / "a.bin").write_bytes(b"stale")
    fetch("mnist", tmp_path)
    assert (tmp_path / "a.bin").read_bytes() == FILES["a.bin"]


def _flip_last_byte(data):
    return data[:-1] + bytes([data[-1] ^ 1])


# What the server holds instead of a.bin -> pattern of the error.
BAD_DOWNLOADS = {
    "corrupted": (_flip_last_byte, r"SHA-256 mismatch for a.bin: expected [0-9a-f]{64}, got "),
    "truncated": (lambda d: d[:-10], r"size mismatch for a.bin: expected 11000 bytes, got "
                                     r"10990"),
    "too_long": (lambda d: d + b"x", r"size mismatch for a.bin: expected 11000 bytes, got "
                                     r"11001"),
}


@pytest.mark.parametrize("case", BAD_DOWNLOADS, ids=list(BAD_DOWNLOADS))
def test_bad_download_raises_and_leaves_nothing(http_root, tmp_path, monkeypatch, case):
    root, url = http_root
    spoil, pattern = BAD_DOWNLOADS[case]
    _serve(root, {"a.bin": spoil(FILES["a.bin"])})
    _pin(monkeypatch, url)
    with pytest.raises(ValueError, match=pattern):
        fetch("mnist", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_404_is_a_clear_error(http_root, tmp_path, monkeypatch):
    _, url = http_root
    _pin(monkeypatch, url)  # nothing served
    with pytest.raises(OSError, match=re.escape(url + "a.bin") + r": .*HTTP 404"):
        fetch("mnist", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_refused_connection_is_a_clear_error(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _pin(monkeypatch, f"http://127.0.0.1:{port}/")
    with pytest.raises(OSError, match="download of a.bin failed"):
        fetch("mnist", tmp_path, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_base_url_overrides_pinned_host(http_root, tmp_path, monkeypatch):
    root, url = http_root
    _serve(root, FILES)
    _pin(monkeypatch, "http://127.0.0.1:9/nowhere/")  # pinned host unreachable
    assert len(fetch("mnist", tmp_path, base_url=url.rstrip("/"))) == len(FILES)


def test_fetched_mnist_directory_loads(http_root, mnist_dir, tmp_path, monkeypatch):
    source, arrays = mnist_dir
    root, url = http_root
    files = {f"{stem}.gz": (source / f"{stem}.gz").read_bytes() for stem in arrays}
    _serve(root, files)
    _pin(monkeypatch, url, files)
    ds = load_dataset("mnist", fetch("mnist", tmp_path / "mnist")[0].parent)
    assert ds.X_train.shape == (12, 784) and ds.y_test.shape == (7,)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"name": "imagenet"}, "unknown data set 'imagenet'"),
    ({"timeout": 0}, "timeout must be a positive number"),
])
def test_bad_arguments(tmp_path, kwargs, pattern):
    args = {"name": "mnist", "directory": tmp_path, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        fetch(args.pop("name"), args.pop("directory"), **args)
    assert list(tmp_path.iterdir()) == []


def test_pinned_table_is_well_formed():
    assert set(checksums.SOURCES) == {"mnist", "fashion-mnist", "cifar10"}
    for files in checksums.SOURCES.values():
        for f in files:
            assert f.url.endswith("/" + f.filename) and f.size > 0
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256)
    mnist = {f.filename: f for f in checksums.SOURCES["mnist"]}
    assert mnist["train-images-idx3-ubyte.gz"].size == 9_912_422
    assert mnist["train-images-idx3-ubyte.gz"].sha256.startswith("440fcabf73cc546fa214")
    (cifar,) = checksums.SOURCES["cifar10"]
    assert (cifar.url, cifar.size) == ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                                       170_052_171)



def test_a_failed_fetch_leaves_no_folder_it_created(http_root, tmp_path, monkeypatch):
    root, url = http_root
    _pin(monkeypatch, url)                         # nothing served: the first file is a 404
    target = tmp_path / "new" / "mnist"
    with pytest.raises(OSError, match="HTTP 404"):
        fetch("mnist", target)
    assert list(tmp_path.iterdir()) == []          # neither mnist/ nor new/ stay behind
    existing = tmp_path / "mine"
    existing.mkdir()
    with pytest.raises(OSError, match="HTTP 404"):
        fetch("mnist", existing / "mnist")
    assert list(existing.iterdir()) == []          # a folder that was there stays
    _serve(root, {"a.bin": FILES["a.bin"]})        # b.bin still a 404: a verified a.bin
    with pytest.raises(OSError, match="b.bin failed: HTTP 404"):   # stays for the next try
        fetch("mnist", target)
    assert [p.name for p in target.iterdir()] == ["a.bin"]


def test_cli_fetch_failure_names_the_option_and_leaves_nothing(http_root, tmp_path,
                                                               monkeypatch, capsys):
    from refimpl.cli import main
    _, url = http_root
    _pin(monkeypatch, "http://127.0.0.1:9/nowhere/")
    target = tmp_path / "mnist"
    assert main(["data", "fetch", "mnist", "--data-dir", str(target), "--base-url", url]) == 1
    err = capsys.readouterr().err
    assert "HTTP 404" in err and "(--base-url URL; base_url= in Python)" in err
    assert err.count("\n") == 1 and not target.exists()
