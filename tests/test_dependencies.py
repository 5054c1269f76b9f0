"""`benchmarks/dependencies.py`: every missing requirement named at once, including those of
installed packages and of their extras."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.dependencies import main, missing


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An installed distribution that requires one absent package itself and another
    through its extra 'more'."""
    info = tmp_path / "fake_pinet_dep-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-pinet-dep\nVersion: 1.0\n"
        "Requires-Dist: absent-base-xyz>=2\n"
        "Requires-Dist: absent-extra-xyz; extra == 'more'\n"
        "Provides-Extra: more\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "fake-pinet-dep"


def test_an_absent_requirement_is_named_as_written() -> None:
    assert missing(["absent-direct-xyz>=1.5", "numpy>=2"]) == ["absent-direct-xyz>=1.5"]


def test_what_an_installed_package_and_its_extras_require_is_checked(
    fake_distribution: str,
) -> None:
    assert missing([fake_distribution]) == ["absent-base-xyz>=2"]
    assert missing([f"{fake_distribution}[more]"]) == ["absent-base-xyz>=2", "absent-extra-xyz"]


def test_each_absent_package_is_named_once(fake_distribution: str) -> None:
    named = missing(["absent-base-xyz", fake_distribution, f"{fake_distribution}[more]"])
    assert named == ["absent-base-xyz", "absent-extra-xyz"]


def test_this_machine_has_every_declared_dependency(capsys: pytest.CaptureFixture) -> None:
    # CI installs the project: the check must find nothing missing, and say so
    assert main() == 0
    assert "dependencies of pyproject.toml are installed" in capsys.readouterr().out
