"""The import contracts in pyproject.toml ([tool.importlinter]) bite: `lint-imports` passes on a
copy of app/ as it is, and fails, naming the import, once the copy imports upward or in a cycle.
(`make lint` runs it on the real tree; docs/architecture.md, "Layers".)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINT_IMPORTS = shutil.which("lint-imports", path=str(Path(sys.executable).parent))


def _python_only(directory: str, names: list[str]) -> list[str]:
    return [
        n
        for n in names
        if n == "__pycache__" or (Path(directory, n).is_file() and not n.endswith(".py"))
    ]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """app/ (its Python files) and the configuration, copied."""
    shutil.copytree(ROOT / "app", tmp_path / "app", ignore=_python_only)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    assert LINT_IMPORTS, "lint-imports is not installed (pip install -e '.[dev]')"
    # Run in the copy: lint-imports puts its working directory first on sys.path, so `app` is
    # the copy's, not the installed package.
    return subprocess.run(  # noqa: S603 (our own tool, fixed arguments)
        [LINT_IMPORTS, "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=120
    )


def test_the_contracts_hold_on_the_tree_as_it_is(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(tree: Path) -> None:
    with (tree / "app" / "kit" / "clock.py").open("a") as clock:
        clock.write("\nimport app.billing  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "app.kit is not allowed to import app.billing" in result.stdout
    assert "app.kit.clock -> app.billing" in result.stdout


def test_a_cycle_inside_a_package_breaks_the_acyclic_contract(tree: Path) -> None:
    # Two new modules of one package importing each other: no layer is crossed.
    (tree / "app" / "pricing" / "cycle_a.py").write_text("import app.pricing.cycle_b  # noqa\n")
    (tree / "app" / "pricing" / "cycle_b.py").write_text("import app.pricing.cycle_a  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "No cycles are allowed in app.pricing" in result.stdout
    assert "app/ is layered: nothing imports from a layer above its own KEPT" in result.stdout


def test_clinics_copies_of_the_engagement_vocabulary_match_the_originals() -> None:
    """Clinics sit below engagements, so an intake's continuity names the engagement's status and
    a departure's reason with copies of their enums (one OpenAPI component each while equal)."""
    from app.clinics import schemas as clinics
    from app.engagements import models as engagements

    for name in ("EngagementStatus", "DepartureReason"):
        copy, original = getattr(clinics, name), getattr(engagements, name)
        assert copy is not original
        assert [m.value for m in copy] == [m.value for m in original], name
