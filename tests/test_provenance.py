"""What an output records of the code that made it: library versions, and the checkout's
commit when the code runs from one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import pinet.provenance
from pinet.provenance import library_versions, source_revision

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(folder: Path, *command: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *command], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_code_run_from_this_checkout_records_its_commit() -> None:
    source = Path(pinet.provenance.__file__)
    commit = git(source.parent, "rev-parse", "--short=12", "HEAD")
    revision = source_revision(source)
    assert revision in (commit, f"{commit}+changes")
    assert library_versions()["pinet"].endswith(f"(git {revision})")


def test_a_file_no_checkout_tracks_has_no_revision(tmp_path: Path) -> None:
    outside = tmp_path / "provenance.py"
    outside.write_text("")
    assert source_revision(outside) is None
    # inside another project's checkout, untracked (a virtual environment there, say)
    git(tmp_path, "init", "-q")
    assert source_revision(outside) is None


def test_changed_tracked_files_are_flagged(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text("x = 1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "module.py")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    commit = git(tmp_path, "rev-parse", "--short=12", "HEAD")
    assert source_revision(source) == commit
    source.write_text("x = 2\n")
    assert source_revision(source) == f"{commit}+changes"
