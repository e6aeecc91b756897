"""Shared fixtures: paths, the in-process CLI, and the golden-file update switch."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GOLDEN = ROOT / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden/ from the current outputs (the diff is reviewed with the code)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return (
        bool(request.config.getoption("--update-golden"))
        or os.environ.get("QAPPAC_UPDATE_GOLDEN") == "1"
    )


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*argv: str) -> Result:
    """Run qappac in-process and capture its streams."""
    from qappac.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():  # type: ignore[no-untyped-def]
    return run_cli


def liberty_path() -> Path | None:
    value = os.environ.get("QAPPAC_LIBERTY")
    return Path(value) if value and Path(value).is_file() else None
