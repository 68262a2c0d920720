"""``refimpl._outputs``: output folders checked without side effects, replaced atomically."""
import pytest

from refimpl._outputs import (check_output_dir, make_dirs, remove_empty_dirs, replace_dir,
                              staging_dir)


def test_check_output_dir_accepts_new_and_existing_folders_and_creates_nothing(tmp_path):
    assert check_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert check_output_dir(tmp_path) == tmp_path
    assert list(tmp_path.iterdir()) == []


def test_check_output_dir_refuses_files_and_broken_links(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="--out .*f is a file, not a folder; choose another "
                                         "--out or remove the file"):
        check_output_dir(tmp_path / "f")
    with pytest.raises(ValueError, match=r"--dir .*f/x/y cannot be created: .*f is a file"):
        check_output_dir(tmp_path / "f" / "x" / "y", "--dir")
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    with pytest.raises(ValueError, match="is a broken symbolic link"):
        check_output_dir(tmp_path / "link" / "run")


def test_made_folders_are_removed_again_only_while_empty(tmp_path):
    created = make_dirs(tmp_path / "a" / "b" / "c")
    assert created == [tmp_path / "a" / "b" / "c", tmp_path / "a" / "b", tmp_path / "a"]
    (tmp_path / "a" / "keep.txt").write_text("x")
    remove_empty_dirs(created)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["keep.txt"]


def test_replace_dir_swaps_a_whole_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale").write_text("old")
    new = staging_dir(out)
    (new / "fresh").write_text("new")
    replace_dir(new, out)
    assert [p.name for p in out.iterdir()] == ["fresh"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
