"""The layers hold: the kernel imports no app, parsers no Django, interfaces sit over the read side over
services over models over parsers, product code never imports developer tooling (import-linter's
contracts in pyproject.toml; docs/architecture.md draws them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def _lint(config: Path) -> int:
    cwd = os.getcwd()
    os.chdir(ROOT)  # the contracts name modules of the project's root
    try:
        return lint_imports(config_filename=str(config), no_cache=True, no_logo=True)
    finally:
        os.chdir(cwd)


def test_every_import_contract_is_kept():
    assert _lint(ROOT / "pyproject.toml") == 0


@pytest.mark.parametrize(
    "source, forbidden",
    [
        ("backoffice.dashboard", "reconciliation"),
        ("reconciliation.tasks", "reconciliation.services"),
        ("reconciliation.parsers.writers", "reconciliation.parsers.base"),
    ],
)
def test_the_checker_reports_an_import_that_a_contract_forbids(tmp_path, source, forbidden):
    """Contracts that imports which do exist break, so the test above is not vacuous."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        f"""
[tool.importlinter]
root_packages = ["backoffice", "accounts", "reconciliation"]

[[tool.importlinter.contracts]]
name = "{source} must not import {forbidden}"
type = "forbidden"
source_modules = ["{source}"]
forbidden_modules = ["{forbidden}"]
"""
    )
    assert _lint(config) == 1
